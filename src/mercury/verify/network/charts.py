"""The pods a HelmRelease's chart creates: charts are not rendered, so a small table.

One row per chart name: its components, each with the labels its pods carry and their
container ports. Values the chart reads for them are read from the HelmRelease's
`values` (`nameOverride`, Traefik's `ports.<name>.port`, `deployment.podLabels`).
A chart missing from the table contributes no pods: flows from or to it are not checked.

Sources (chart templates and values at the versions the platform pins):
- traefik (40.x): https://github.com/traefik/traefik-helm-chart/blob/master/traefik/values.yaml
  (`ports.web.port: 8000`, `websecure: 8443`, `traefik: 8080`, `metrics: 9100`) and
  templates/_helpers.tpl (`app.kubernetes.io/name: traefik`, `app.kubernetes.io/instance:
  <release>-<namespace>`).
- cert-manager (v1.x): https://github.com/cert-manager/cert-manager/tree/master/deploy/charts/cert-manager
  (`app.kubernetes.io/name` cert-manager / webhook / cainjector, `app.kubernetes.io/component`
  controller / webhook / cainjector; controller metrics 9402, webhook 10250).
- cloudnative-pg (0.2x): https://github.com/cloudnative-pg/charts/tree/main/charts/cloudnative-pg
  (`app.kubernetes.io/name: cloudnative-pg`, `app.kubernetes.io/instance: <release>`;
  webhook 9443, metrics 8080). The operator reaches every instance on 8000 (status) and
  5432: https://cloudnative-pg.io/documentation/current/networking/
- plugin-barman-cloud: https://github.com/cloudnative-pg/plugin-barman-cloud
  (`app.kubernetes.io/name: plugin-barman-cloud`, gRPC 9090).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.network.pods import Pod
from mercury.verify.network.policy import PortDecl
from mercury.verify.rules.index import dig


@dataclass(frozen=True)
class Component:
    role: str  # what flows call it: traefik, cnpg-operator, cert-manager...
    name: str  # default app.kubernetes.io/name (nameOverride replaces it when `overridable`)
    ports: tuple[PortDecl, ...]
    component: str | None = None  # app.kubernetes.io/component
    instance: str = "release"  # app.kubernetes.io/instance: "release" or "release-namespace"
    overridable: bool = True


CHARTS: dict[str, tuple[Component, ...]] = {
    "traefik": (Component("traefik", "traefik", (
        PortDecl(8000, "TCP", "web"), PortDecl(8443, "TCP", "websecure"),
        PortDecl(8080, "TCP", "traefik"), PortDecl(9100, "TCP", "metrics")),
        instance="release-namespace"),),
    "cert-manager": (
        Component("cert-manager", "cert-manager", (PortDecl(9402, "TCP", "http-metrics"),),
                  component="controller"),
        Component("cert-manager-webhook", "webhook", (PortDecl(10250, "TCP", "https"),),
                  component="webhook", overridable=False),
        Component("cert-manager-cainjector", "cainjector", (), component="cainjector",
                  overridable=False),
    ),
    "cloudnative-pg": (Component("cnpg-operator", "cloudnative-pg", (
        PortDecl(9443, "TCP", "webhook-server"), PortDecl(8080, "TCP", "metrics"))),),
    "plugin-barman-cloud": (Component("barman-cloud", "plugin-barman-cloud",
                                      (PortDecl(9090, "TCP", "grpc"),)),),
}


def release_name(hr: K8sObject) -> str:
    """Flux's default release name: `[<targetNamespace>-]<name>` unless releaseName is set."""
    explicit = hr.spec.get("releaseName")
    if explicit:
        return str(explicit)
    target = hr.spec.get("targetNamespace")
    return f"{target}-{hr.name}" if target else hr.name


def chart_name(hr: K8sObject) -> str:
    return str(dig(hr.spec, "chart", "spec", "chart") or dig(hr.spec, "chartRef", "name") or "")


def chart_pods(hr: K8sObject) -> Iterator[Pod]:
    """The pods of one HelmRelease, per the table (nothing for an unknown chart)."""
    components = CHARTS.get(chart_name(hr).rsplit("/", 1)[-1], ())
    values = hr.spec.get("values") if isinstance(hr.spec.get("values"), dict) else {}
    assert isinstance(values, dict)
    namespace = str(hr.spec.get("targetNamespace") or hr.namespace)
    release = release_name(hr)
    for comp in components:
        name = str(values.get("nameOverride") or comp.name) if comp.overridable else comp.name
        instance = release if comp.instance == "release" else f"{release}-{namespace}"
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}
        if comp.component:
            labels["app.kubernetes.io/component"] = comp.component
        ports = comp.ports
        if comp.role == "traefik":
            labels.update(_str_map(dig(values, "deployment", "podLabels")))
            ports = _traefik_ports(values, ports)
        elif comp.role == "cnpg-operator":
            labels.update(_str_map(values.get("podLabels")))
        yield Pod(namespace, labels, ports, f"{comp.role} pods of HelmRelease "
                  f"{hr.namespace}/{hr.name}", comp.role, hr)


def _traefik_ports(values: dict[str, Any], defaults: tuple[PortDecl, ...]) -> tuple[PortDecl, ...]:
    ports = {p.name: p for p in defaults}
    for name, entry in (values.get("ports") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("port"), int):
            ports[str(name)] = PortDecl(entry["port"], str(entry.get("protocol") or "TCP"),
                                        str(name))
    return tuple(ports.values())


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
