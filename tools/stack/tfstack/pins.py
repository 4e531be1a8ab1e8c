"""Pinned versions of every tool the local stack builds (see shared notes, section 1).

One place to move a pin: the wrapper modules under tools/stack/<name>/ carry the
same versions in their go.mod, and a unit test checks the two agree.
"""

KUBERNETES = "v1.36.4"
ETCD = "v3.6.14"
KWOK = "v0.8.0"
HELM = "v3.21.4"
OPERATOR = "v0.141.0"
TEMPO = "v1.5.1-0.20250529124718-87c2dc380cec"
TEMPO_RELEASE = "2.8.0-dev"
OTELCOL = "v0.158.0"

# Default agent image tags the operator build stamps in (its versions.txt at OPERATOR).
OPERATOR_AUTOINSTRUMENTATION = {
    "autoInstrumentationJava": "1.33.6",
    "autoInstrumentationNodeJS": "0.67.2",
    "autoInstrumentationPython": "0.60b0",
    "autoInstrumentationDotNet": "1.2.0",
    "autoInstrumentationGo": "v0.22.1",
    "autoInstrumentationApacheHttpd": "1.0.4",
    "autoInstrumentationNginx": "1.0.4",
}
