"""Service rules: a selector reaches some pod template, a named targetPort exists on it."""

from __future__ import annotations

from collections.abc import Iterable

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import PodTemplate, containers, helm_namespaces, pod_templates

CNPG_CLUSTER_LABEL = "cnpg.io/cluster"


def _selected(service: K8sObject, templates: list[PodTemplate]) -> list[PodTemplate]:
    selector = service.spec.get("selector") or {}
    return [t for t in templates
            if all(t.labels.get(str(k)) == str(v) for k, v in selector.items())]


def _by_namespace(ctx: VerifyContext) -> dict[str, list[PodTemplate]]:
    out: dict[str, list[PodTemplate]] = {}
    for tpl in pod_templates(ctx):
        out.setdefault(tpl.owner.namespace, []).append(tpl)
    return out


def _checked_services(ctx: VerifyContext) -> Iterable[K8sObject]:
    """Services with a selector whose pods the build can see (not charts', not CNPG's)."""
    open_ns = helm_namespaces(ctx)
    for svc in ctx.of_kind("Service"):
        selector = svc.spec.get("selector")
        if not isinstance(selector, dict) or not selector or svc.namespace in open_ns:
            continue
        if CNPG_CLUSTER_LABEL in selector:
            continue  # pods made by the CNPG operator; cnpg rules check the Cluster
        yield svc


class ServiceSelectorRule(Rule):
    """A Service's selector matches no pod template in its namespace: it has no endpoints,
    and whatever routes to it (an Ingress, n8n's database URL) gets connection refused.
    """

    id = "service-selector"
    summary = "Service selector matches no pod template in its namespace"
    hint = "make spec.selector a subset of the workload's spec.template.metadata.labels"
    tags = ("services",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        templates = _by_namespace(ctx)
        for svc in _checked_services(ctx):
            if _selected(svc, templates.get(svc.namespace, [])):
                continue
            selector = ", ".join(f"{k}={v}" for k, v in sorted(svc.spec["selector"].items()))
            owners = sorted({f"{t.owner.kind} {t.owner.name}"
                             for t in templates.get(svc.namespace, [])})
            yield self.finding(svc, f"Service {svc.namespace}/{svc.name} selects {selector}, "
                                    f"which matches no pod template in namespace "
                                    f"{svc.namespace} (workloads there: "
                                    f"{', '.join(owners) or 'none'})")


class ServiceTargetPortRule(Rule):
    """A Service port's named targetPort is not a containerPort name of the pods it selects:
    traffic to that port goes nowhere.
    """

    id = "service-target-port"
    summary = "Service targetPort name is not a container port of the selected pods"
    hint = "name the containerPort (ports[].name) as the Service's targetPort, or use the number"
    tags = ("services",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        templates = _by_namespace(ctx)
        for svc in _checked_services(ctx):
            selected = _selected(svc, templates.get(svc.namespace, []))
            if not selected:
                continue  # service-selector reports it
            names = {str(p.get("name")) for t in selected for c in containers(t.spec)
                     for p in c.get("ports") or [] if isinstance(p, dict) and p.get("name")}
            for port in svc.spec.get("ports") or []:
                target = port.get("targetPort") if isinstance(port, dict) else None
                if isinstance(target, str) and not target.isdigit() and target not in names:
                    owners = ", ".join(sorted({f"{t.owner.kind} {t.owner.name}"
                                               for t in selected}))
                    yield self.finding(
                        svc, f"Service {svc.namespace}/{svc.name} targets port '{target}', which "
                             f"no container of {owners} names (ports: "
                             f"{', '.join(sorted(names)) or 'none named'})")
