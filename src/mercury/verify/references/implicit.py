"""Implicit references: an in-cluster host name inside an env value or a ConfigMap string.

`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`, alone or in a URL, must be a
Service (built, or generated: CNPG `-rw/-ro/-r`, Poolers, `kube-dns`), and its port (the
value's, a sibling `*_PORT`, or the scheme's) one of the Service's ports. The host parsing
is network/hosts.py's, so the reachability checks and this table read the same hosts.
`svc.ns` counts only when `ns` is a namespace the build knows (`example.com` is not
in-cluster); in ConfigMap free text only URLs and `*.svc` names count, never a bare word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.network.hosts import SCHEME_PORTS, env_host_refs, parse_host
from mercury.verify.references.paths import walk
from mercury.verify.references.resolve import Broken
from mercury.verify.references.table import POD_PATHS
from mercury.verify.references.targets import Targets
from mercury.verify.rules.index import WORKLOAD_KINDS

# tokens of free text that may carry a host: URLs and `*.svc[.cluster.local][:port]` names
_TOKEN = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>,;()]+"
                    r"|\b[a-z0-9][a-z0-9.-]*\.svc(?:\.cluster\.local)?(?::\d+)?\b")
NOT_SERVICES = frozenset({"localhost"})


class _Ref:
    """One host a string names, with where it sits."""

    def __init__(self, obj: K8sObject, path: str, value: str, service: str,
                 namespace: str, port: int | None) -> None:
        self.obj, self.path, self.value = obj, path, value
        self.service, self.namespace, self.port = service, namespace, port


def _refs(ctx: VerifyContext) -> Iterator[_Ref]:
    for obj in ctx.of_kind(*WORKLOAD_KINDS):
        for prefix, kinds in POD_PATHS.items():
            if obj.kind not in kinds:
                continue
            for pod in walk(obj.body, prefix):
                if not isinstance(pod.value, dict):
                    continue
                for ref in env_host_refs(pod.value, obj.namespace):
                    yield _Ref(obj, f"{prefix}.{ref.path}", ref.value, ref.service,
                               ref.namespace, ref.port)
    for cm in ctx.of_kind("ConfigMap"):
        for m in walk(cm.body, "data.*"):
            if not isinstance(m.value, str):
                continue
            for token in _TOKEN.findall(m.value):
                parsed = parse_host(token.rstrip("."), "", False)
                if parsed is None or not parsed[1]:
                    continue  # a single label in free text is too ambiguous
                service, ns, port, scheme = parsed
                if port is None and scheme:
                    port = SCHEME_PORTS.get(scheme)
                yield _Ref(cm, m.path, token, service, ns, port)


def _in_cluster(ref: _Ref, index: Targets) -> bool:
    value = ref.value.lower()
    if ref.service in NOT_SERVICES or ref.service.isdigit():
        return False
    if "${" in value or "{{" in value:
        return False
    if f"{ref.service}.{ref.namespace}.svc" in value:
        return True
    if f"{ref.service}.{ref.namespace}" in value:  # `svc.ns`: only a namespace we know
        return ref.namespace in index.namespaces
    return True


def broken_hosts(ctx: VerifyContext, index: Targets) -> list[Broken]:
    out: list[Broken] = []
    for ref in _refs(ctx):
        if not _in_cluster(ref, index):
            continue
        ns, name, port = ref.namespace, ref.service, ref.port
        host = f"{name}.{ns}"
        target = f"Service/{ns}/{name}" + (f":{port}" if port else "")
        found = index.get("Service", ns, name)
        if not found:
            if index.checkable("Service", ns):
                out.append(Broken("reference-missing", "service", ref.obj, ref.path, target,
                                  f"host {host} resolves to no Service (Services in {ns}: "
                                  f"{', '.join(index.names('Service', ns)[:6]) or 'none'})"))
            continue
        if port is None or any(k.ports is None for k in found):
            continue
        ports = sorted({p for k in found for p, _ in k.ports or ()})
        if port not in ports:
            out.append(Broken("reference-missing", "service-port", ref.obj, ref.path, target,
                              f"Service {ns}/{name} has no port {port} (ports: "
                              f"{', '.join(map(str, ports)) or 'none'})"))
    return out
