"""The data plane on loopback: the collector configs the roles applied, run as real otelcol processes.

``mapping`` is the one address mapping (unit-tested); ``processes`` starts and stops the collectors;
``traffic`` sends synthetic multi-service traces with the OpenTelemetry SDK. See docs/dataplane.md.
"""
