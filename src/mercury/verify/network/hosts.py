"""In-cluster hosts named in env values: implicit references that imply a network flow.

A value is `svc`, `svc.ns`, `svc.ns.svc` or `svc.ns.svc.cluster.local`, optionally with
`:port`, or a URL with such a host (`postgres://n8n-db-rw:5432/n8n`). It is a reference
only when the Service exists (the reference table of verify reports the ones that do
not); a bare word (`n8n`) counts only in a variable whose name says it is a host
(`DB_POSTGRESDB_HOST`), so `DB_POSTGRESDB_DATABASE=n8n` is no flow to the Service `n8n`.
The port is the URL's or `:port`, else the sibling `<PREFIX>_PORT` variable, else the
scheme's or a known variable's default, else the Service's only port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HOST_VAR = re.compile(r"(HOST|HOSTNAME|ADDR|ADDRESS|SERVER|ENDPOINT|SERVICE)$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SCHEME_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432,
                "redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671,
                "mongodb": 27017, "mysql": 3306, "nats": 4222, "grpc": 80}
# variables whose default port the program knows (n8n: DB_POSTGRESDB_PORT defaults to 5432,
# https://docs.n8n.io/hosting/configuration/environment-variables/database/)
VAR_PORTS = {"DB_POSTGRESDB_HOST": 5432, "QUEUE_BULL_REDIS_HOST": 6379}


@dataclass(frozen=True)
class HostRef:
    variable: str
    container: str
    service: str
    namespace: str  # resolved: the pod's own namespace when the value has none
    port: int | None
    value: str
    path: str = ""  # of the value, relative to the pod spec: `containers[0].env[2].value`


def parse_host(value: str, own_namespace: str,
               host_variable: bool) -> tuple[str, str, int | None, str | None] | None:
    """(service, namespace, port, scheme) of an in-cluster host value, or None."""
    text = value.strip()
    scheme = None
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            return None
    else:
        host, _, port_text = text.partition(":")
        if port_text and not port_text.isdigit():
            return None
        port = int(port_text) if port_text else None
    labels = host.lower().split(".")
    if not host or not all(LABEL.match(label) for label in labels):
        return None
    if len(labels) == 1:
        if not host_variable and scheme is None:
            return None
        return labels[0], own_namespace, port, scheme
    if len(labels) == 2 or (len(labels) == 3 and labels[2] == "svc") or (
            len(labels) == 5 and labels[2:] == ["svc", "cluster", "local"]):
        return labels[0], labels[1], port, scheme
    return None


def env_host_refs(pod: dict[str, Any], namespace: str) -> Iterator[HostRef]:
    """Every env value of every container that reads as an in-cluster host."""
    for lst in ("initContainers", "containers"):
        for c, container in enumerate(pod.get(lst) or []):
            if isinstance(container, dict):
                yield from _container_refs(container, namespace, f"{lst}[{c}]")


def _container_refs(container: dict[str, Any], namespace: str, at: str) -> Iterator[HostRef]:
    entries = [(i, e) for i, e in enumerate(container.get("env") or [])
               if isinstance(e, dict) and isinstance(e.get("value"), str)]
    env = {str(e.get("name")): e.get("value") for _, e in entries}
    for i, entry in entries:
        name, value = str(entry.get("name")), str(entry["value"])
        if env.get(name) is not entry["value"]:
            continue  # a later entry of the same name wins, as in the kubelet
        parsed = parse_host(value, namespace, bool(HOST_VAR.search(name)))
        if parsed is None:
            continue
        service, ns, port, scheme = parsed
        if port is None:
            port = _sibling_port(name, env)
        if port is None:
            port = VAR_PORTS.get(name) or (SCHEME_PORTS.get(scheme) if scheme else None)
        yield HostRef(name, str(container.get("name")), service, ns, port, value,
                      f"{at}.env[{i}].value")


def _sibling_port(variable: str, env: dict[str, Any]) -> int | None:
    match = HOST_VAR.search(variable)
    if not match:
        return None
    value = env.get(variable[:match.start()] + "PORT")
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None
