"""The gateways' loopback addresses published in the local cluster as an EndpointSlice.

In a cluster the agents' ``load_balancing`` exporter (``resolver: k8s``) watches the EndpointSlices of
the gateways' headless Service, which the EndpointSlice controller keeps in step with the gateway
pods. kwok's pods have fake addresses (never dialled here), so the data plane publishes its own: a
selector-less headless Service in a namespace of its own, and one EndpointSlice labelled with it
(``kubernetes.io/service-name``) listing the loopback gateways (as ``addressType: FQDN``: the apiserver
refuses loopback addresses in an IPv4 slice, and the loadbalancing exporter's k8s resolver dials the
address text whatever the type). A test then does what the controller
does when a gateway pod is deleted: ``publish`` again without it. The agents see the change through
the real apiserver's watch.

    gateway_service = endpoints.publish(cluster_name, ["127.0.0.2", "127.0.0.3", "127.0.0.4"], 4317)
    ... plane_specs(..., gateway_service=gateway_service) ...
    endpoints.publish(cluster_name, ["127.0.0.2", "127.0.0.4"], 4317)   # gateway 127.0.0.3's pod is gone
"""

import json

from .. import cluster

NAMESPACE = "tracefleet-loopback"
SERVICE = "gateway-collector-headless"
MANAGED_BY = "tfstack.dataplane"


def _objects(addresses, port, namespace, service):
    for address in addresses:
        if not address.startswith("127."):
            raise ValueError("only loopback gateways are published, got %r" % (address,))
    labels = {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": MANAGED_BY}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": namespace},
         "spec": {"clusterIP": "None", "ports": [{"name": "otlp-grpc", "port": port, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": service + "-loopback", "namespace": namespace, "labels": labels},
         # The apiserver refuses loopback IPs in an IPv4 slice ("may not be in the loopback range"); an FQDN
         # slice takes "127.0.0.2" as a name, and the resolver dials the address text it finds, as with IPs.
         "addressType": "FQDN",
         "ports": [{"name": "otlp-grpc", "port": port, "protocol": "TCP"}],
         "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]},
    ]


def publish(name, addresses, port, namespace=NAMESPACE, service=SERVICE):
    """Create or replace the Service and its one EndpointSlice on cluster ``name``; returns "<service>.<namespace>"."""
    manifest = {"apiVersion": "v1", "kind": "List", "items": _objects(addresses, port, namespace, service)}
    cluster.kubectl(name, "apply", "--server-side", "--force-conflicts", "--field-manager=" + MANAGED_BY,
                    "-f", "-", input_text=json.dumps(manifest))
    return "%s.%s" % (service, namespace)


def published(name, namespace=NAMESPACE, service=SERVICE):
    """The addresses the cluster lists now for the Service (every EndpointSlice labelled with it)."""
    out = cluster.kubectl(name, "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=" + service,
                          "-o", "json").stdout
    return sorted(a for item in json.loads(out)["items"] for e in item.get("endpoints") or [] for a in e["addresses"])
