"""tfstack: builds and runs the real local stack (Kubernetes on kwok, Helm, otelcol, Tempo, operator)."""
