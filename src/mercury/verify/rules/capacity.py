"""Scheduling capacity: the fleet's pods fit the cluster's node pools (mercury.verify.capacity).

A fleet that does not fit renders, builds and validates; it then waits in Pending: a
CNPG instance that finds no node leaves the database without its replica, a new tenant's
n8n never starts. Required anti-affinity or a DoNotSchedule spread that the node count
cannot satisfy is Pending for ever, whatever the load.
"""

from __future__ import annotations

from collections.abc import Iterator

from mercury.verify import capacity
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule


class CapacityRule(Rule):
    """The fleet's pod requests fit the node pools, and no placement constraint is impossible.

    Supply: platform.yaml's node count and VM size (through Terraform's `default_node_pool`
    when present), minus AKS's reservation (kube-reserved CPU table, memory
    min(20 MB x max pods + 50 MB, 25%), eviction 100Mi). Demand: every pod's requests,
    CNPG instances x `instances`, controllers from HelmRelease values (else 100m/128Mi a
    pod), and an estimate of AKS's kube-system pods.

    - `cpu` / `memory` / `pods`: the fleet requests more than the nodes offer;
    - `packing`: the totals fit but some pods find no node (first-fit decreasing);
    - `pod-size`: one pod requests more than a whole node;
    - `anti-affinity`: more replicas with required pod anti-affinity (CNPG
      `podAntiAffinityType: required`) than nodes (or zones);
    - `spread`: a DoNotSchedule topologySpreadConstraint whose minDomains exceeds the
      domains caps the replicas below the count asked for;
    - `vm-size`: a VM size mercury has no figures for (warning: not checked).

    Bad: 3 CNPG instances with `podAntiAffinityType: required` on 2 nodes.
    Good: `node_count: 3`, or `podAntiAffinityType: preferred`.
    """

    id = "capacity"
    summary = "the fleet does not fit the node pools, or a placement constraint cannot be met"
    hint = ("raise cluster.node_count or node_size in platform.yaml, lower requests, or "
            "relax the constraint")
    tags = ("scheduling", "aks")
    subs = frozenset({"cpu", "memory", "pods", "packing", "pod-size", "anti-affinity", "spread",
                      "vm-size"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        result = capacity.assess(ctx, tenants=())
        if result is None:
            return
        pool = result.pools[0]
        for unknown in result.unknown_sizes:
            yield self._at(unknown, f"{unknown.where}: VM size {unknown.vm_size!r} is not in "
                                    "mercury's table of Azure sizes; its capacity is not "
                                    "checked", "vm-size", Severity.WARNING)
        if not result.nodes:
            return
        nodes = f"{len(result.nodes)} node(s) of {pool.where}"
        for group, why in result.impossible:
            sub = "anti-affinity" if "anti-affinity" in why else "spread"
            message = f"{group.name} cannot all be scheduled on {nodes}: {why}"
            if group.owner is not None:
                yield self.finding(group.owner, message, sub=sub)
            else:
                yield self._at(pool, message, sub)
        fit = result.fit
        over = False
        for sub, asked, offered, unit in (
                ("cpu", fit.requested_cpu_m, fit.total_cpu_m, "m CPU"),
                ("memory", fit.requested_memory_mi, fit.total_memory_mi, "Mi memory"),
                ("pods", fit.pods, fit.total_pods, " pods")):
            if asked > offered:
                over = True
                yield self._at(pool, f"the fleet requests {asked:.0f}{unit}, but {nodes} "
                                     f"offer {offered:.0f}{unit} after AKS's reservation "
                                     f"({len(fit.unplaced)} workload(s) would stay Pending)",
                               sub)
        impossible = {id(g) for g, _ in result.impossible}
        for group, why in fit.unplaced:
            if id(group) in impossible:
                continue
            if why.startswith("one pod requests"):
                message = f"{group.name} cannot be scheduled on {nodes}: {why}"
                if group.owner is not None:
                    yield self.finding(group.owner, message, sub="pod-size")
                else:
                    yield self._at(pool, message, "pod-size")
            elif not over:
                yield self._at(pool, f"{group.name} finds no node among {nodes} ({why}), "
                                     "although the totals fit", "packing")
                over = True  # one packing finding is enough: the rest follows from it

    def _at(self, pool: capacity.NodePool, message: str, sub: str,
            severity: Severity | None = None) -> Finding:
        return Finding(rule=f"{self.id}[{sub}]", severity=severity or self.severity,
                       object=pool.object, message=message, hint=self.hint, file=pool.file,
                       line=pool.line)
