"""Implicit references: an in-cluster host name inside an env value or a ConfigMap string.

`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`, alone or in a URL, must be a
Service (built, or generated: CNPG `-rw/-ro/-r`, Poolers, `kube-dns`), and an explicit port
(or the scheme's, for http/https) must be one of its ports. A single-label or `svc.ns`
host counts only where it is unambiguous: in a URL or in an env variable whose name says
it holds a host (`*_HOST`, `*_SERVER`, `*_ADDR`), and for `svc.ns` only when `ns` is a
namespace the build knows (`example.com` is not in-cluster).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.references.paths import walk
from mercury.verify.references.resolve import Broken
from mercury.verify.references.table import POD_PATHS
from mercury.verify.references.targets import Targets
from mercury.verify.rules.index import WORKLOAD_KINDS

_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://(?:[^@/\s\"']*@)?([A-Za-z0-9.-]+)(?::(\d+))?")
_SVC = re.compile(r"\b([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)*\.svc(\.cluster\.local)?)"
                  r"(?::(\d+))?\b")
_BARE = re.compile(r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)?)(?::(\d+))?$")
_HOST_VAR = re.compile(r"(^|_)(HOST|HOSTNAME|SERVER|ADDR|ADDRESS)$")
SCHEME_PORTS = {"http": 80, "https": 443}
NOT_SERVICES = frozenset({"localhost"})


def _candidates(text: str, host_var: bool) -> Iterator[tuple[str, int | None, bool]]:
    """(host, port or None, qualified) for each in-cluster-looking host in `text`."""
    seen: set[tuple[str, int | None]] = set()
    for m in _URL.finditer(text):
        port = int(m[3]) if m[3] else SCHEME_PORTS.get(m[1])
        if (m[2], port) not in seen:
            seen.add((m[2].lower(), port))
            yield m[2].lower(), port, False
    for m in _SVC.finditer(text):
        port = int(m[5]) if m[5] else None
        if not any(host == m[1] for host, _ in seen):
            seen.add((m[1], port))
            yield m[1], port, True
    if host_var and not seen:
        m = _BARE.match(text.strip())
        if m:
            yield m[1], int(m[4]) if m[4] else None, False


def _service(host: str, namespace: str, qualified: bool,
             index: Targets) -> tuple[str, str] | None:
    """(namespace, service) an in-cluster host resolves to; None when it is not in-cluster."""
    labels = host.split(".")
    if host.endswith(".svc.cluster.local"):
        labels = labels[:-3]
    elif host.endswith(".svc"):
        labels = labels[:-1]
    elif qualified:
        return None
    if len(labels) == 1:
        if labels[0] in NOT_SERVICES or labels[0].isdigit():
            return None
        return namespace, labels[0]
    if len(labels) == 2 and (labels[1] in index.namespaces or host.endswith(".svc")
                             or host.endswith(".svc.cluster.local")):
        return labels[1], labels[0]
    return None


def _strings(ctx: VerifyContext) -> Iterator[tuple[K8sObject, str, str, bool]]:
    """(object, path, text, holds-a-host) for env values and ConfigMap data."""
    for obj in ctx.of_kind(*WORKLOAD_KINDS):
        for prefix, kinds in POD_PATHS.items():
            if obj.kind not in kinds:
                continue
            for lst in ("initContainers", "containers"):
                for m in walk(obj.body, f"{prefix}.{lst}[*].env[*].value"):
                    if isinstance(m.value, str):
                        name = str(m.parent.get("name", ""))
                        yield obj, m.path, m.value, bool(_HOST_VAR.search(name))
    for cm in ctx.of_kind("ConfigMap"):
        for m in walk(cm.body, "data.*"):
            if isinstance(m.value, str):
                yield cm, m.path, m.value, False


def broken_hosts(ctx: VerifyContext, index: Targets) -> list[Broken]:
    out: list[Broken] = []
    for obj, path, text, host_var in _strings(ctx):
        if "${" in text or "{{" in text:
            continue
        for host, port, qualified in _candidates(text, host_var):
            if obj.kind == "ConfigMap" and "." not in host:
                continue  # a single label in free text is too ambiguous
            resolved = _service(host, obj.namespace, qualified, index)
            if resolved is None:
                continue
            ns, name = resolved
            target = f"Service/{ns}/{name}" + (f":{port}" if port else "")
            found = index.get("Service", ns, name)
            if not found:
                if index.checkable("Service", ns):
                    out.append(Broken("reference-missing", "service", obj, path, target,
                                      f"host {host} resolves to no Service (Services in {ns}: "
                                      f"{', '.join(index.names('Service', ns)[:6]) or 'none'})"))
                continue
            if port is None or any(k.ports is None for k in found):
                continue
            ports = sorted({p for k in found for p, _ in k.ports or ()})
            if port not in ports:
                out.append(Broken("reference-missing", "service-port", obj, path, target,
                                  f"Service {ns}/{name} has no port {port} (ports: "
                                  f"{', '.join(map(str, ports)) or 'none'})"))
    return out
