"""The one mapping between a collector configuration the operator rendered and the same config on loopback.

The rendered ``collector.yaml`` reaches otelcol byte for byte as the first ``--config`` file. The
mapping is a second, small config file (the *overlay*) that otelcol merges on top (maps are
merged key by key, lists replaced, ``null`` removes a key). It only changes where things listen
and what they dial:

* listeners (``receivers.<r>.protocols.<p>.endpoint``, ``extensions.health_check.endpoint``, the
  Prometheus reader's ``host``): the pod's ``0.0.0.0`` becomes the process's own loopback address,
  the port stays what the pod has (each process has its own address, as each pod has its own IP);
* exporter endpoints naming a cluster Service (``<svc>.<ns>.svc[.<domain>]:<port>``): the loopback
  endpoint given for that Service (Tempo's, a gateway's);
* the ``load_balancing`` exporter's resolver: ``dns`` (or ``k8s``) on the gateways' headless
  Service becomes ``static`` with the gateways' loopback endpoints, the port taken from the
  resolver (what DNS would have answered: one A record per pod); or, given ``gateway_service``,
  ``k8s`` on that Service: an EndpointSlice of the gateways' loopback addresses in the local
  cluster (tfstack.dataplane.endpoints), which a test edits as the EndpointSlice controller would;
* absolute paths (``file_storage.directory``) move under the run's work directory.

One non-address change, because a process outside a cluster has no service account:
``k8s_attributes.auth_type: serviceAccount`` becomes ``kubeConfig`` (the local cluster's
kubeconfig, through ``KUBECONFIG``). The processor then reads the same API, filtered the same way.

Everything else (processors, sampling policies, pipeline order, queues, retries) is what the
cluster got; ``changed_paths`` lists exactly what the overlay touches, and ``merge`` applies an
overlay the way otelcol does, so a test can compare the two configs with those paths taken out.
"""

import copy
import re
from dataclasses import dataclass, field

ANY = ("0.0.0.0", "::", "[::]", "")
# <service>.<namespace>.svc or <service>.<namespace>.svc.<cluster domain>
CLUSTER_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.svc(\.[a-z0-9.-]+)?$")
LB_TYPES = ("load_balancing", "loadbalancing")
HEALTH_TYPES = ("health_check",)
K8S_ATTRIBUTES_TYPES = ("k8s_attributes", "k8sattributes")
STORAGE_TYPES = ("file_storage",)


class MappingError(ValueError):
    pass


@dataclass
class Overlay:
    data: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)  # path tuple -> (old, new)
    listens: list = field(default_factory=list)  # (address, port) the process will bind

    def set(self, config, path, value):
        """Record path -> value in the overlay (path through dicts; a list is replaced whole)."""
        self.changes[path] = (_get(config, path), value)
        node = self.data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value


def _get(data, path):
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def component_type(name):
    """``otlp_grpc/tempo`` -> ``otlp_grpc``."""
    return str(name).split("/", 1)[0]


def split_endpoint(text):
    """``host:port`` (or ``scheme://host:port[/path]``) -> (scheme, host, port, path); port is an int or None."""
    text = str(text)
    scheme, rest = "", text
    if "://" in text:
        scheme, rest = text.split("://", 1)
    path = ""
    if "/" in rest:
        rest, path = rest.split("/", 1)
        path = "/" + path
    if rest.startswith("["):  # [::]:4317
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return scheme, host, (int(port) if port else None), path


def join_endpoint(scheme, host, port, path=""):
    hostport = "%s:%d" % (host, port) if port is not None else host
    return ("%s://%s%s" % (scheme, hostport, path)) if scheme else hostport + path


def is_cluster_host(host):
    return bool(CLUSTER_HOST.match(host or ""))


def _listener(config, overlay, path, address):
    value = _get(config, path)
    if value is None:
        return
    scheme, host, port, rest = split_endpoint(value)
    if host not in ANY and not host.startswith("127."):
        raise MappingError("%s listens on %r: only 0.0.0.0/:: (a pod listening everywhere) is mapped"
                           % (".".join(map(str, path)), value))
    overlay.set(config, path, join_endpoint(scheme, address, port, rest))
    overlay.listens.append((address, port))


def _service_endpoint(services, host, port, where):
    key = "%s:%d" % (host, port)
    for candidate in (key, host):
        if candidate in services:
            return services[candidate]
    raise MappingError("%s dials %s, a cluster Service with no loopback stand-in (known: %s)"
                       % (where, key, ", ".join(sorted(services)) or "none"))


def collector_overlay(config, address, services=None, gateways=None, workdir=None, gateway_service=None):
    """The overlay that runs ``config`` (a parsed collector.yaml) on ``address``.

    services: {"<host>:<port>" or "<host>": "<loopback host>:<port>"} for every cluster Service an
    exporter dials. gateways: ["<loopback host>:<port>", ...] replacing the load_balancing
    resolver (its port, if the resolver names one, must match). gateway_service: "<service>.<namespace>"
    whose EndpointSlices list the loopback gateways; the resolver becomes ``k8s`` on it (same port)
    instead of ``static``. workdir: where absolute storage paths go. Raises MappingError for anything
    it would have to guess.
    """
    services = services or {}
    overlay = Overlay()
    for rname, receiver in (config.get("receivers") or {}).items():
        for pname in ((receiver or {}).get("protocols") or {}):
            _listener(config, overlay, ("receivers", rname, "protocols", pname, "endpoint"), address)
    for ename, ext in (config.get("extensions") or {}).items():
        kind = component_type(ename)
        if kind in HEALTH_TYPES and (ext or {}).get("endpoint"):
            _listener(config, overlay, ("extensions", ename, "endpoint"), address)
        if kind in STORAGE_TYPES and str((ext or {}).get("directory", "")).startswith("/"):
            if workdir is None:
                raise MappingError("extensions.%s.directory is absolute and no work directory was given" % ename)
            overlay.set(config, ("extensions", ename, "directory"),
                        "%s/%s" % (str(workdir).rstrip("/"), ext["directory"].lstrip("/")))
    readers = _get(config, ("service", "telemetry", "metrics", "readers"))
    if readers:
        mapped = copy.deepcopy(readers)
        for reader in mapped:
            prometheus = _get(reader, ("pull", "exporter", "prometheus"))
            if isinstance(prometheus, dict):
                if prometheus.get("host", "") not in ANY and not str(prometheus.get("host")).startswith("127."):
                    raise MappingError("the Prometheus reader listens on %r" % prometheus.get("host"))
                prometheus["host"] = address
                overlay.listens.append((address, int(prometheus.get("port", 8888))))
        overlay.set(config, ("service", "telemetry", "metrics", "readers"), mapped)
    for ename, exporter in (config.get("exporters") or {}).items():
        exporter = exporter or {}
        kind = component_type(ename)
        if kind in LB_TYPES:
            resolver = exporter.get("resolver") or {}
            if "static" in resolver and not set(resolver) - {"static"}:
                hostnames = resolver["static"].get("hostnames") or []
                if any(is_cluster_host(split_endpoint(h)[1]) for h in hostnames):
                    raise MappingError("exporters.%s: static hostnames name cluster Services: %s" % (ename, hostnames))
                continue
            if not gateways and not gateway_service:
                raise MappingError("exporters.%s resolves gateways through %s; no loopback gateways given"
                                   % (ename, "/".join(sorted(resolver)) or "nothing"))
            port = None
            if "dns" in resolver:
                port = int(resolver["dns"].get("port") or 4317)
            elif "k8s" in resolver:
                ports = resolver["k8s"].get("ports") or [4317]
                port = int(ports[0])
            if gateway_service:
                if not re.match(r"^[a-z0-9-]+\.[a-z0-9-]+$", gateway_service):
                    raise MappingError("gateway_service must be <service>.<namespace>, got %r" % (gateway_service,))
                watched = {"service": gateway_service, "ports": [port or 4317]}
                if "k8s" in resolver:
                    watched = dict(resolver["k8s"], **watched)  # timeout, return_hostnames stay as rendered
                target = ("k8s", watched)
            else:
                if port is not None and any(split_endpoint(g)[2] != port for g in gateways):
                    raise MappingError("exporters.%s: gateways %s are not on the resolver's port %d" % (ename, gateways, port))
                target = ("static", {"hostnames": list(gateways)})
            for other in resolver:
                if other != target[0]:
                    overlay.set(config, ("exporters", ename, "resolver", other), None)
            overlay.set(config, ("exporters", ename, "resolver", target[0]), target[1])
            continue
        endpoint = exporter.get("endpoint")
        if endpoint:
            scheme, host, port, path = split_endpoint(endpoint)
            if is_cluster_host(host):
                target = _service_endpoint(services, host, port, "exporters.%s" % ename)
                _, thost, tport, _ = split_endpoint(target)
                overlay.set(config, ("exporters", ename, "endpoint"), join_endpoint(scheme, thost, tport, path))
            elif not host.startswith("127.") and host != "localhost":
                raise MappingError("exporters.%s dials %r, which is neither a cluster Service nor loopback" % (ename, endpoint))
    for pname, processor in (config.get("processors") or {}).items():
        if component_type(pname) in K8S_ATTRIBUTES_TYPES and (processor or {}).get("auth_type", "serviceAccount") == "serviceAccount":
            overlay.set(config, ("processors", pname, "auth_type"), "kubeConfig")
    return overlay


def merge(base, overlay):
    """Apply an overlay the way otelcol merges --config files: maps merged, lists replaced, None removes."""
    result = copy.deepcopy(base)

    def into(target, patch):
        for key, value in patch.items():
            if value is None:
                target.pop(key, None)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                into(target[key], value)
            else:
                target[key] = copy.deepcopy(value)
    into(result, overlay)
    return result


def without(config, paths):
    """A copy of config with the given paths (and what is below them) taken out; emptied maps go too."""
    result = copy.deepcopy(config)
    for path in sorted(paths, key=len, reverse=True):
        parent = _get(result, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
            # drop maps the removal emptied (the resolver after dns -> static)
            for depth in range(len(path) - 1, 0, -1):
                node = _get(result, path[:depth])
                if node == {}:
                    holder = _get(result, path[:depth - 1])
                    if isinstance(holder, dict):
                        holder.pop(path[depth - 1], None)
                else:
                    break
    return result


def changed_paths(overlay):
    return sorted(overlay.changes, key=lambda p: tuple(str(x) for x in p))
