"""Ingress rules: the class exists, the backend Service and port exist, no host is claimed twice.

`ingress-class` is the seed's Issue 2: Flux names a release `<targetNamespace>-<name>`
when `spec.releaseName` is unset, and the Traefik chart names its IngressClass after the
release's fullname, so `ingressClassName: traefik` met a class called `traefik-traefik`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig, helm_namespaces, is_true, names_by_namespace

INGRESSROUTE_KINDS = ("IngressRoute",)
_HOST = re.compile(r"Host\(([^)]*)\)")
_PATH = re.compile(r"Path(?:Prefix)?\(\s*`([^`]*)`")
_QUOTED = re.compile(r"`([^`]*)`")


def ingress_class_of(obj: K8sObject) -> str | None:
    """spec.ingressClassName, else the legacy kubernetes.io/ingress.class annotation."""
    name = obj.spec.get("ingressClassName") or obj.annotations.get("kubernetes.io/ingress.class")
    return str(name) if name else None


def flux_release_name(hr: K8sObject) -> str:
    """Flux helm-controller's release name: spec.releaseName or `[targetNamespace-]name`.

    Names longer than 53 characters are shortened to 40 + "-" + 12 hex of their sha256.
    """
    name = hr.spec.get("releaseName")
    if not name:
        target = hr.spec.get("targetNamespace")
        name = f"{target}-{hr.name}" if target else hr.name
    name = str(name)
    if len(name) > 53:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[:40]}-{digest}"
    return name


def chart_name(hr: K8sObject, ctx: VerifyContext) -> str:
    """The chart's own name (last path segment of the chart or of the OCI URL)."""
    chart = dig(hr.spec, "chart", "spec", "chart")
    if chart:
        return str(chart).rstrip("/").rsplit("/", 1)[-1]
    ref = hr.spec.get("chartRef") or {}
    if isinstance(ref, dict) and ref.get("kind") == "OCIRepository":
        oci = ctx.get("OCIRepository", str(ref.get("namespace") or hr.namespace),
                      str(ref.get("name", "")))
        if oci is not None:
            return str(oci.spec.get("url", "")).rstrip("/").rsplit("/", 1)[-1]
    return ""


def _helm_fullname(values: dict[str, Any], release: str, chart: str) -> str:
    """The `<chart>.fullname` helper every `helm create` chart (Traefik's too) defines."""
    if values.get("fullnameOverride"):
        return str(values["fullnameOverride"])[:63].rstrip("-")
    name = str(values.get("nameOverride") or chart)
    full = release if name in release else f"{release}-{name}"
    return full[:63].rstrip("-")


def helm_ingress_classes(hr: K8sObject, ctx: VerifyContext) -> list[str] | None:
    """IngressClass names a controller HelmRelease creates; None when it cannot be known."""
    chart = chart_name(hr, ctx)
    raw = hr.spec.get("values")
    values: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if chart not in ("traefik", "ingress-nginx"):
        return []
    if hr.spec.get("valuesFrom"):
        return None  # values live in a ConfigMap/Secret the class name may come from
    if chart == "traefik":
        cls = dig(values, "ingressClass")
        cls = cls if isinstance(cls, dict) else {}
        if not is_true(cls.get("enabled", True)):
            return []
        release = flux_release_name(hr)
        return [str(cls.get("name") or _helm_fullname(values, release, chart))]
    res = dig(values, "controller", "ingressClassResource")
    res = res if isinstance(res, dict) else {}
    if not is_true(res.get("enabled", True)):
        return []
    return [str(res.get("name") or "nginx")]


class IngressClassRule(Rule):
    """An Ingress names an IngressClass that neither the build nor a controller chart creates.

    Silent at runtime: the controller ignores the Ingress and answers 404. Only checked
    when the platform declares at least one class (an IngressClass object or a Traefik /
    ingress-nginx HelmRelease), so repositories relying on a cluster add-on stay quiet.
    """

    id = "ingress-class"
    summary = "Ingress names an IngressClass the platform does not create"
    hint = ("use one of the created classes, or pin the class name on the controller's "
            "HelmRelease (values ingressClass.name, or spec.releaseName)")
    tags = ("ingress",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        created: dict[str, str] = {}
        for ic in ctx.of_kind("IngressClass"):
            created.setdefault(ic.name, f"IngressClass {ic.name}")
        for hr in ctx.of_kind("HelmRelease"):
            names = helm_ingress_classes(hr, ctx)
            if names is None:
                return
            for name in names:
                created.setdefault(name, f"HelmRelease {hr.namespace}/{hr.name}")
        if not created:
            return
        known = ", ".join(f"'{n}' ({src})" for n, src in sorted(created.items()))
        for obj in ctx.of_kind("Ingress", *INGRESSROUTE_KINDS):
            cls = ingress_class_of(obj)
            if cls is None or cls in created:
                continue
            yield self.finding(
                obj, f"{obj.kind} {obj.namespace}/{obj.name} uses IngressClass '{cls}', which "
                     f"nothing creates; the platform creates {known}")


def ingress_backends(obj: K8sObject) -> Iterator[tuple[str, str, object]]:
    """(namespace, service name, port) for every Service backend of an Ingress/IngressRoute."""
    if obj.kind == "Ingress":
        backends = [obj.spec.get("defaultBackend")]
        for rule in obj.spec.get("rules") or []:
            backends += [p.get("backend") for p in dig(rule, "http", "paths") or []]
        for backend in backends:
            service = dig(backend, "service")
            if isinstance(service, dict) and service.get("name"):
                port = service.get("port") or {}
                value = port.get("number", port.get("name")) if isinstance(port, dict) else None
                yield obj.namespace, str(service["name"]), value
        return
    for route in obj.spec.get("routes") or []:
        for service in route.get("services") or [] if isinstance(route, dict) else []:
            if service.get("kind", "Service") != "Service" or not service.get("name"):
                continue
            yield str(service.get("namespace") or obj.namespace), str(service["name"]), \
                service.get("port")


class IngressBackendRule(Rule):
    """An Ingress (or Traefik IngressRoute) backend names a Service or port that does not exist."""

    id = "ingress-backend"
    summary = "Ingress backend names a missing Service or Service port"
    hint = "point the backend at an existing Service and one of its ports (number or name)"
    tags = ("ingress",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        services = names_by_namespace(ctx, "Service")
        open_ns = helm_namespaces(ctx)
        for obj in ctx.of_kind("Ingress", *INGRESSROUTE_KINDS):
            for namespace, name, port in ingress_backends(obj):
                svc = services.get(namespace, {}).get(name)
                where = f"{obj.kind} {obj.namespace}/{obj.name}"
                if svc is None:
                    if namespace not in open_ns:
                        yield self.finding(obj, f"{where} routes to Service {namespace}/{name}, "
                                                "which does not exist")
                    continue
                if port is None or svc.spec.get("type") == "ExternalName":
                    continue
                ports = [p for p in svc.spec.get("ports") or [] if isinstance(p, dict)]
                if not any(port in (p.get("port"), p.get("name")) for p in ports):
                    have = ", ".join(str(p.get("name") or p.get("port")) for p in ports)
                    yield self.finding(obj, f"{where} routes to port {port!r} of Service "
                                            f"{namespace}/{name}, which has ports: "
                                            f"{have or 'none'}")


def host_claims(obj: K8sObject) -> Iterator[tuple[str, str, frozenset[str] | None]]:
    """(host, path, entry points or None for all) claimed by an Ingress or IngressRoute."""
    if obj.kind == "Ingress":
        eps = obj.annotations.get("traefik.ingress.kubernetes.io/router.entrypoints")
        entry = frozenset(e.strip() for e in eps.split(",")) if eps else None
        for rule in obj.spec.get("rules") or []:
            host = rule.get("host") if isinstance(rule, dict) else None
            if not host:
                continue
            paths = dig(rule, "http", "paths") or [{}]
            for path in {str(p.get("path") or "/") for p in paths if isinstance(p, dict)}:
                yield str(host).lower(), path, entry
        return
    entry_list = obj.spec.get("entryPoints")
    entry = frozenset(map(str, entry_list)) if entry_list else None
    for route in obj.spec.get("routes") or []:
        match = str(route.get("match", "")) if isinstance(route, dict) else ""
        paths = _PATH.findall(match) or ["/"]
        for group in _HOST.findall(match):
            for host in _QUOTED.findall(group):
                for path in paths:
                    yield host.lower(), path, entry


class DuplicateHostRule(Rule):
    """Two Ingresses or IngressRoutes claim the same host and path (e.g. two tenants).

    The controller routes such a host to one of them, unpredictably; with cert-manager
    both also fight over the certificate. Different IngressClasses or disjoint Traefik
    entry points do not conflict.
    """

    id = "duplicate-host"
    summary = "the same host and path are claimed by two Ingresses/IngressRoutes"
    hint = "give each tenant its own host (platform.yaml), or merge the routes into one object"
    tags = ("ingress", "tenancy")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        seen: dict[tuple[str, str, str], list[tuple[K8sObject, frozenset[str] | None]]] = {}
        for obj in ctx.of_kind("Ingress", *INGRESSROUTE_KINDS):
            cls = ingress_class_of(obj) or ""
            reported: set[str] = set()
            for host, path, entry in host_claims(obj):
                claims = seen.setdefault((cls, host, path), [])
                for other, other_entry in claims:
                    overlap = entry is None or other_entry is None or entry & other_entry
                    if other is not obj and overlap and host not in reported:
                        reported.add(host)
                        yield self.finding(
                            obj, f"{obj.kind} {obj.namespace}/{obj.name} claims host {host} "
                                 f"(path {path}), already claimed by {other.kind} "
                                 f"{other.namespace}/{other.name}")
                        break
                claims.append((obj, entry))
