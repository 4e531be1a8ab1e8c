#!/usr/bin/env bash
# The baseline of bench_rollout.py: the same objects site.yml creates, with plain helm and kubectl.
#   KUBECONFIG=... HELM=... KUBECTL=... CHART=... VALUES=values.yaml OBJECTS=dir raw_rollout.sh
# OBJECTS holds 00-namespaces.yaml and 10-objects.yaml (exported from a cluster site.yml rolled out)
# and waits.txt (one "kind/name namespace" per line: what site.yml's roles wait for).
set -euo pipefail
"$HELM" upgrade --install opentelemetry-operator "$CHART" -n opentelemetry-operator-system \
  --create-namespace -f "$VALUES" --wait --timeout 5m >/dev/null
"$KUBECTL" apply --server-side --field-manager raw -f "$OBJECTS/00-namespaces.yaml" >/dev/null
"$KUBECTL" apply --server-side --force-conflicts --field-manager raw -f "$OBJECTS/10-objects.yaml" >/dev/null
while read -r object namespace; do
  "$KUBECTL" wait --for=create "$object" -n "$namespace" --timeout=300s >/dev/null
  "$KUBECTL" rollout status "$object" -n "$namespace" --timeout=300s >/dev/null
done <"$OBJECTS/waits.txt"
