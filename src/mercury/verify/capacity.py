"""Scheduling capacity: do the fleet's pods fit the AKS node pool(s)?

Supply: the node pools Terraform declares (`default_node_pool`, evaluated from
platform.yaml through `local.cluster`) or, without Terraform, platform.yaml's
`cluster.node_count`/`node_size`; a VM size's vCPUs and memory from VM_SIZES, minus what
AKS reserves (`aks_reserved`). Demand: the requests of every pod the build makes, CNPG
instances x `instances`, controllers from their HelmRelease values (else a planning
default), plus an estimate of AKS's own kube-system pods. A first-fit-decreasing packing
honours required self anti-affinity; constraints no placement can satisfy (more
required-anti-affine replicas than nodes, a DoNotSchedule spread with `minDomains` above
the domains) are reported on their own. O(pods x nodes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.model import K8sObject
from mercury.errors import MercuryError
from mercury.verify.context import VerifyContext
from mercury.verify.rules.base import pod_specs
from mercury.verify.rules.index import dig, is_true
from mercury.verify.rules.tfinstances import instances

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

# (vCPUs, memory GiB) of the Azure VM sizes an AKS node pool here is likely to use.
# Source: the size series pages under https://learn.microsoft.com/azure/virtual-machines/sizes/
# (general-purpose/dsv3-series, dsv5-series, dasv5-series, ddsv5-series, dsv6-series,
# bsv2-series / b-series; memory-optimized/esv3-series, esv5-series; compute-optimized/
# fsv2-series), read 2026-12.
VM_SIZES: dict[str, tuple[int, float]] = {
    "Standard_B2s": (2, 4), "Standard_B2ms": (2, 8), "Standard_B4ms": (4, 16),
    "Standard_B2s_v2": (2, 8), "Standard_B4s_v2": (4, 16),
    "Standard_D2s_v3": (2, 8), "Standard_D4s_v3": (4, 16), "Standard_D8s_v3": (8, 32),
    "Standard_D16s_v3": (16, 64),
    "Standard_D2s_v5": (2, 8), "Standard_D4s_v5": (4, 16), "Standard_D8s_v5": (8, 32),
    "Standard_D16s_v5": (16, 64),
    "Standard_D2as_v5": (2, 8), "Standard_D4as_v5": (4, 16), "Standard_D8as_v5": (8, 32),
    "Standard_D2ds_v5": (2, 8), "Standard_D4ds_v5": (4, 16), "Standard_D8ds_v5": (8, 32),
    "Standard_D2s_v6": (2, 8), "Standard_D4s_v6": (4, 16), "Standard_D8s_v6": (8, 32),
    "Standard_E2s_v3": (2, 16), "Standard_E4s_v3": (4, 32), "Standard_E8s_v3": (8, 64),
    "Standard_E2s_v5": (2, 16), "Standard_E4s_v5": (4, 32), "Standard_E8s_v5": (8, 64),
    "Standard_F2s_v2": (2, 4), "Standard_F4s_v2": (4, 8), "Standard_F8s_v2": (8, 16),
}

# kube-reserved CPU (millicores) by the host's cores, AKS "Node resource reservations":
# https://learn.microsoft.com/azure/aks/node-resource-reservations (CPU reservations)
KUBE_RESERVED_CPU = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))
# Same page, AKS 1.29 and later: kube-reserved memory = min(20 MB x max pods + 50 MB,
# 25% of the VM's memory); eviction threshold memory.available < 100Mi.
EVICTION_MI = 100
# Default max pods per node by network plugin (AKS docs, "Azure CNI Overlay": 250;
# Azure CNI: 30; kubenet: 110): https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning
DEFAULT_MAX_PODS = {"overlay": 250, "azure": 30, "kubenet": 110}

# AKS's own kube-system pods: an ESTIMATE (their requests vary by AKS release and add-on
# set; measure with `kubectl describe node` on a live cluster). Per cluster: CoreDNS (2 x
# 100m/70Mi, the upstream CoreDNS manifest's requests), metrics-server (2 x 100m/200Mi,
# upstream components.yaml), konnectivity-agent (2 x 20m/20Mi). Per node: the DaemonSets
# (cilium agent, azure-cns, CSI disk/file/secrets-store node drivers, cloud-node-manager).
SYSTEM_PER_CLUSTER = (("coredns", 2, 100, 70), ("metrics-server", 2, 100, 200),
                      ("konnectivity-agent", 2, 20, 20))
SYSTEM_PER_NODE = ("kube-system DaemonSets", 250, 300)

# Controllers installed by HelmRelease: where the chart reads each component's resources
# and replicas. The charts set no requests by default; the scheduler then counts them as
# zero, but the node still spends CPU and memory on them, so plan with DEFAULT_REQUESTS.
CHART_COMPONENTS: dict[str, tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = {
    "traefik": (("traefik", ("resources",), ("deployment", "replicas")),),
    "cert-manager": (("controller", ("resources",), ("replicaCount",)),
                     ("webhook", ("webhook", "resources"), ("webhook", "replicaCount")),
                     ("cainjector", ("cainjector", "resources"), ("cainjector", "replicaCount"))),
    "cloudnative-pg": (("manager", ("resources",), ("replicaCount",)),),
    "plugin-barman-cloud": (("plugin", ("resources",), ("replicaCount",)),),
    "reloader": (("reloader", ("reloader", "deployment", "resources"),
                  ("reloader", "deployment", "replicas")),),
}
DEFAULT_REQUESTS = (100, 128)  # millicores, MiB: mercury's planning default per pod


_CPU = re.compile(r"^([0-9.]+)(m?)$")
_MEM = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|e\d+)?$")
_MEM_FACTOR = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 2**20,
               "k": 1000 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}


def cpu_millis(value: object) -> float:
    match = _CPU.match(str(value).strip())
    if not match:
        return 0.0
    number = float(match[1])
    return number if match[2] else number * 1000


def memory_mi(value: object) -> float:
    match = _MEM.match(str(value).strip())
    if not match:
        return 0.0
    unit = match[2]
    if unit and unit.startswith("e"):
        return float(match[1]) * float(10 ** int(unit[1:])) / 2**20
    return float(match[1]) * float(_MEM_FACTOR[unit])


# ------------------------------------------------------------------ supply


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    vm_size: str
    max_pods: int
    zones: int  # availability zones the pool spans (1: none given)
    file: str | None = None
    line: int | None = None
    object: str = ""

    @property
    def where(self) -> str:
        return f"{self.object or 'node pool ' + self.name} ({self.file}:{self.line or '?'})"


@dataclass(frozen=True)
class Allocatable:
    cpu_m: float
    memory_mi: float
    pods: int


def aks_allocatable(pool: NodePool) -> Allocatable | None:
    """What one node of the pool offers pods (None: VM size not in VM_SIZES)."""
    size = VM_SIZES.get(pool.vm_size)
    if size is None:
        return None
    vcpus, memory_gib = size
    reserved_cpu = next((m for cores, m in reversed(KUBE_RESERVED_CPU) if vcpus >= cores), 60)
    memory = memory_gib * 1024
    reserved_memory = min(20 * pool.max_pods + 50, 0.25 * memory)
    return Allocatable(vcpus * 1000 - reserved_cpu, memory - reserved_memory - EVICTION_MI,
                       pool.max_pods)


# ------------------------------------------------------------------ demand


@dataclass
class PodGroup:
    """Identical pods of one owner: `replicas` of them (or one per node: `per_node`)."""

    name: str  # Kind/namespace/name, or a label for estimates
    namespace: str
    replicas: int
    cpu_m: float
    memory_mi: float
    source: str  # "requests", "chart default", "AKS system estimate"
    owner: K8sObject | None = None
    per_node: bool = False
    anti_affinity: str | None = None  # topology key of a required self anti-affinity
    spreads: list[tuple[str, int, int]] = field(default_factory=list)  # key, skew, minDomains


def _requests(resources: object) -> tuple[float, float]:
    requests = dig(resources, "requests") or {}
    return cpu_millis(requests.get("cpu", 0)), memory_mi(requests.get("memory", 0))


def _pod_requests(pod: dict[str, Any]) -> tuple[float, float]:
    """Effective requests: max(sum of containers (+ sidecar inits), largest init)."""
    cpu = mem = 0.0
    for c in pod.get("containers") or []:
        c_cpu, c_mem = _requests(c.get("resources") if isinstance(c, dict) else None)
        cpu, mem = cpu + c_cpu, mem + c_mem
    for c in pod.get("initContainers") or []:
        c_cpu, c_mem = _requests(c.get("resources") if isinstance(c, dict) else None)
        if isinstance(c, dict) and c.get("restartPolicy") == "Always":
            cpu, mem = cpu + c_cpu, mem + c_mem
        else:
            cpu, mem = max(cpu, c_cpu), max(mem, c_mem)
    return cpu, mem


def _selects(selector: object, labels: dict[str, str]) -> bool:
    match = dig(selector, "matchLabels")
    if not isinstance(match, dict) or not match or dig(selector, "matchExpressions"):
        return False
    return all(labels.get(str(k)) == str(v) for k, v in match.items())


def _template_labels(obj: K8sObject) -> dict[str, str]:
    labels = dig(obj.spec, "template", "metadata", "labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _workload(obj: K8sObject, pod: dict[str, Any]) -> PodGroup:
    cpu, mem = _pod_requests(pod)
    replicas = obj.spec.get("replicas", 1) if obj.kind != "Pod" else 1
    group = PodGroup(str(obj.ref), obj.namespace, replicas if isinstance(replicas, int) else 1,
                     cpu, mem, "requests", obj, per_node=obj.kind == "DaemonSet")
    labels = _template_labels(obj)
    for term in dig(pod, "affinity", "podAntiAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution") or []:
        if isinstance(term, dict) and _selects(term.get("labelSelector"), labels):
            group.anti_affinity = str(term.get("topologyKey") or HOSTNAME)
    for spread in pod.get("topologySpreadConstraints") or []:
        if isinstance(spread, dict) and spread.get("whenUnsatisfiable") == "DoNotSchedule" \
                and _selects(spread.get("labelSelector"), labels):
            group.spreads.append((str(spread.get("topologyKey")), int(spread.get("maxSkew", 1)),
                                  int(spread.get("minDomains") or 0)))
    return group


def _cnpg(cluster: K8sObject, sidecars: dict[tuple[str, str], tuple[float, float]]) -> PodGroup:
    cpu, mem = _requests(cluster.spec.get("resources"))
    for plugin in cluster.spec.get("plugins") or []:
        store = dig(plugin, "parameters", "barmanObjectName")
        side = sidecars.get((cluster.namespace, str(store)))
        if side:
            cpu, mem = cpu + side[0], mem + side[1]
    instances = cluster.spec.get("instances", 1)
    group = PodGroup(str(cluster.ref), cluster.namespace,
                     instances if isinstance(instances, int) else 1, cpu, mem, "requests", cluster)
    affinity = cluster.spec.get("affinity") or {}
    if affinity.get("enablePodAntiAffinity", True) is not False \
            and affinity.get("podAntiAffinityType") == "required":
        group.anti_affinity = str(affinity.get("topologyKey") or HOSTNAME)
    return group


def _helm(release: K8sObject) -> Iterable[PodGroup]:
    chart = str(dig(release.spec, "chart", "spec", "chart") or "")
    values = release.spec.get("values") if isinstance(release.spec.get("values"), dict) else {}
    ns = str(release.spec.get("targetNamespace") or release.namespace)
    for component, res_path, rep_path in CHART_COMPONENTS.get(chart, (("chart", (), ()),)):
        resources = dig(values, *res_path) if res_path else None
        cpu, mem = _requests(resources)
        source = "values" if cpu or mem else "chart default"
        if not (cpu or mem):
            cpu, mem = DEFAULT_REQUESTS
        replicas = dig(values, *rep_path) if rep_path else None
        yield PodGroup(f"HelmRelease/{release.namespace}/{release.name} ({component})", ns,
                       replicas if isinstance(replicas, int) else 1, cpu, mem, source, release)


def system_groups() -> list[PodGroup]:
    out = [PodGroup(f"kube-system {name}", "kube-system", n, cpu, mem, "AKS system estimate")
           for name, n, cpu, mem in SYSTEM_PER_CLUSTER]
    name, cpu, mem = SYSTEM_PER_NODE
    out.append(PodGroup(name, "kube-system", 1, cpu, mem, "AKS system estimate", per_node=True))
    return out


def demand(objects: Iterable[K8sObject]) -> list[PodGroup]:
    """The pod groups the built objects make (without AKS's own)."""
    objects = list(objects)
    sidecars = {}
    for store in objects:
        if store.kind == "ObjectStore":
            res = dig(store.spec, "instanceSidecarConfiguration", "resources")
            if res:
                sidecars[(store.namespace, store.name)] = _requests(res)
    out: list[PodGroup] = []
    for obj in objects:
        if obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"}:
            out.extend(_workload(obj, pod) for pod in pod_specs(obj))
        elif obj.kind == "Cluster" and obj.group == "postgresql.cnpg.io":
            out.append(_cnpg(obj, sidecars))
        elif obj.kind == "HelmRelease" and not is_true(obj.spec.get("suspend")):
            out.extend(_helm(obj))
    return out


# ------------------------------------------------------------------ fit


@dataclass
class Fit:
    """The outcome of packing the pod groups onto the nodes."""

    nodes: list[Allocatable]
    requested_cpu_m: float
    requested_memory_mi: float
    pods: int
    unplaced: list[tuple[PodGroup, str]]  # group, why (first pod that found no node)

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def total_cpu_m(self) -> float:
        return sum(n.cpu_m for n in self.nodes)

    @property
    def total_memory_mi(self) -> float:
        return sum(n.memory_mi for n in self.nodes)

    @property
    def total_pods(self) -> int:
        return sum(n.pods for n in self.nodes)


def domains(key: str, nodes: int, zones: int) -> int | None:
    """How many topology domains a key has on the pool (None: a key mercury cannot know)."""
    if key == HOSTNAME:
        return nodes
    if key in {ZONE, "failure-domain.beta.kubernetes.io/zone"}:
        return min(zones, nodes)
    if key in {"topology.kubernetes.io/region", "kubernetes.azure.com/agentpool"}:
        return 1
    return None


def unsatisfiable(group: PodGroup, nodes: int, zones: int) -> str | None:
    """Why no placement can run all of `group`'s replicas, if none can."""
    if group.per_node:
        return None
    if group.anti_affinity:
        count = domains(group.anti_affinity, nodes, zones)
        if count is not None and group.replicas > count:
            return (f"{group.replicas} replicas with required pod anti-affinity on "
                    f"{group.anti_affinity}, but only {count} such domain(s)")
    for key, skew, min_domains in group.spreads:
        count = domains(key, nodes, zones)
        if count is not None and min_domains > count and group.replicas > skew * count:
            return (f"{group.replicas} replicas with topologySpreadConstraints {key} "
                    f"maxSkew {skew}, minDomains {min_domains} (DoNotSchedule), but only "
                    f"{count} domain(s): at most {skew * count} can be placed")
    return None


def pack(groups: list[PodGroup], nodes: list[Allocatable]) -> Fit:
    """First-fit decreasing over the nodes, with required self anti-affinity on the host."""
    free_cpu = [n.cpu_m for n in nodes]
    free_mem = [n.memory_mi for n in nodes]
    free_pods = [n.pods for n in nodes]
    unplaced: list[tuple[PodGroup, str]] = []
    total_cpu = total_mem = 0.0
    pods = 0
    biggest = max(nodes, key=lambda n: (n.cpu_m, n.memory_mi)) if nodes else Allocatable(0, 0, 0)
    for g in groups:  # DaemonSet-like groups land on every node whatever else is there
        if g.per_node:
            for n in range(len(nodes)):
                free_cpu[n] -= g.cpu_m
                free_mem[n] -= g.memory_mi
                free_pods[n] -= 1
            total_cpu += g.cpu_m * len(nodes)
            total_mem += g.memory_mi * len(nodes)
            pods += len(nodes)
    order = sorted((g for g in groups if not g.per_node),
                   key=lambda g: -(g.cpu_m / max(biggest.cpu_m, 1)
                                   + g.memory_mi / max(biggest.memory_mi, 1)))
    for g in order:
        used: set[int] = set()
        spread = g.anti_affinity == HOSTNAME
        for _ in range(g.replicas):
            total_cpu, total_mem, pods = total_cpu + g.cpu_m, total_mem + g.memory_mi, pods + 1
            placed = None
            for n in range(len(nodes)):
                if spread and n in used:
                    continue
                if free_cpu[n] >= g.cpu_m and free_mem[n] >= g.memory_mi and free_pods[n] >= 1:
                    placed = n
                    break
            if placed is None:
                if not unplaced or unplaced[-1][0] is not g:
                    unplaced.append((g, _why(g, biggest, len(nodes), used if spread else set())))
                continue
            free_cpu[placed] -= g.cpu_m
            free_mem[placed] -= g.memory_mi
            free_pods[placed] -= 1
            used.add(placed)
    return Fit(nodes, total_cpu, total_mem, pods, unplaced)


def _why(g: PodGroup, alloc: Allocatable, nodes: int, used: set[int]) -> str:
    if g.cpu_m > alloc.cpu_m or g.memory_mi > alloc.memory_mi:
        return (f"one pod requests {g.cpu_m:.0f}m CPU / {g.memory_mi:.0f}Mi, more than a node's "
                f"allocatable {alloc.cpu_m:.0f}m / {alloc.memory_mi:.0f}Mi")
    if len(used) == nodes:
        return "required anti-affinity: every node already runs one of its pods"
    return "no node has that much CPU and memory left"


def per_tenant(groups: list[PodGroup], namespace: str, instances: int) -> list[PodGroup]:
    """The pods of one tenant namespace, with its CNPG cluster at `instances` (a template)."""
    out = []
    for g in groups:
        if g.namespace != namespace:
            continue
        copy = PodGroup(**{**vars(g), "spreads": list(g.spreads)})
        if g.owner is not None and g.owner.kind == "Cluster":
            copy.replicas = instances
        out.append(copy)
    return out


def more_tenants(groups: list[PodGroup], template: list[PodGroup], nodes: list[Allocatable],
                 zones: int) -> int:
    """How many more tenants like `template` still fit (0 when the fleet is already full)."""
    cpu = sum(g.cpu_m * g.replicas for g in template)
    mem = sum(g.memory_mi * g.replicas for g in template)
    base = pack(groups, nodes)
    if not base.fits or not template or \
            any(unsatisfiable(g, len(nodes), zones) for g in template):
        return 0
    bounds = [(base.total_cpu_m - base.requested_cpu_m) / cpu if cpu else math.inf,
              (base.total_memory_mi - base.requested_memory_mi) / mem if mem else math.inf,
              (base.total_pods - base.pods) / max(sum(g.replicas for g in template), 1)]
    low, high = 0, int(min(bounds))
    while low < high:  # the largest k whose packing still fits
        mid = (low + high + 1) // 2
        if pack(groups + template * mid, nodes).fits:
            low = mid
        else:
            high = mid - 1
    return low


# ------------------------------------------------------------------ the fleet


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def node_pools(ctx: VerifyContext) -> list[NodePool]:
    """The AKS node pools: Terraform's (evaluated), else platform.yaml's cluster block."""
    pools: list[NodePool] = []
    for cluster in instances(ctx, "azurerm_kubernetes_cluster"):
        network = cluster.attr(ctx, "network_profile")
        network = network[0] if isinstance(network, list) and network else {}
        plugin = "overlay" if isinstance(network, dict) and \
            network.get("network_plugin_mode") == "overlay" else \
            str(network.get("network_plugin") or "kubenet") if isinstance(network, dict) \
            else "kubenet"
        pool = cluster.attr(ctx, "default_node_pool")
        for block in pool if isinstance(pool, list) else []:
            if isinstance(block, dict):
                pools.append(_pool(block, plugin, cluster.file, cluster.line, cluster.address))
        for extra in instances(ctx, "azurerm_kubernetes_cluster_node_pool"):
            block = {k: extra.attr(ctx, k) for k in ("name", "node_count", "vm_size", "max_pods",
                                                      "zones", "auto_scaling_enabled",
                                                      "max_count", "node_taints")}
            if not block.get("node_taints"):  # a tainted pool takes only tolerating pods
                pools.append(_pool(block, plugin, extra.file, extra.line, extra.address))
    return pools or _platform_pool(ctx)


def _pool(block: dict[str, Any], plugin: str, file: str, line: int | None,
          where: str) -> NodePool:
    count = _int(block.get("node_count"), 1)
    if block.get("auto_scaling_enabled") is True:
        count = _int(block.get("max_count"), count)
    zones = block.get("zones")
    return NodePool(str(block.get("name") or "default"), count, str(block.get("vm_size")),
                    _int(block.get("max_pods"), DEFAULT_MAX_PODS.get(plugin, 110)),
                    len(zones) if isinstance(zones, list) and zones else 1, file, line, where)


def _platform_pool(ctx: VerifyContext) -> list[NodePool]:
    from mercury.platform import load_platform

    if ctx.environment is None or not (ctx.root / "platform.yaml").is_file():
        return []  # which environment's cluster is not known
    try:
        platform = load_platform(ctx.root)
    except MercuryError:
        return []
    env = platform.environments.get(ctx.environment)
    if env is None:
        return []
    return [NodePool("default", env.cluster.node_count, env.cluster.node_size,
                     DEFAULT_MAX_PODS["overlay"], 1, "platform.yaml", None,
                     f"environment {ctx.environment} cluster")]


@dataclass
class Assessment:
    """Capacity of one environment's cluster against its built fleet."""

    pools: list[NodePool]
    nodes: list[Allocatable]
    groups: list[PodGroup]
    fit: Fit
    impossible: list[tuple[PodGroup, str]]
    unknown_sizes: list[NodePool]
    zones: int
    template: str | None = None  # the tenant namespace used as "the default size"
    per_tenant_cpu_m: float = 0.0
    per_tenant_memory_mi: float = 0.0
    more_tenants: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "nodes": len(self.nodes),
            "pools": [{"name": p.name, "count": p.count, "vm_size": p.vm_size,
                       "max_pods": p.max_pods, "source": p.where} for p in self.pools],
            "allocatable": {"cpu_m": round(self.fit.total_cpu_m),
                            "memory_mi": round(self.fit.total_memory_mi),
                            "pods": self.fit.total_pods},
            "requested": {"cpu_m": round(self.fit.requested_cpu_m),
                          "memory_mi": round(self.fit.requested_memory_mi),
                          "pods": self.fit.pods},
            "fits": self.fit.fits and not self.impossible,
            "unplaced": [{"pods": g.name, "why": why} for g, why in self.fit.unplaced],
            "unsatisfiable": [{"pods": g.name, "why": why} for g, why in self.impossible],
            "unknown_vm_sizes": sorted({p.vm_size for p in self.unknown_sizes}),
            "tenant_template": self.template,
            "per_tenant": {"cpu_m": round(self.per_tenant_cpu_m),
                           "memory_mi": round(self.per_tenant_memory_mi)},
            "more_tenants": self.more_tenants,
            "assumptions": {"system_reserve": "AKS kube-reserved + eviction (docs formula)",
                            "kube_system_pods": "estimate (SYSTEM_PER_CLUSTER/PER_NODE)",
                            "controllers_without_requests": f"{DEFAULT_REQUESTS[0]}m/"
                                                            f"{DEFAULT_REQUESTS[1]}Mi per pod"},
        }


def assess(ctx: VerifyContext, *, tenants: Iterable[str] | None = None,
           default_instances: int = 3) -> Assessment | None:
    """The fleet against its node pools (None: no node pool is known)."""
    pools = node_pools(ctx)
    if not pools:
        return None
    nodes: list[Allocatable] = []
    unknown = []
    for pool in pools:
        alloc = aks_allocatable(pool)
        if alloc is None:
            unknown.append(pool)
        else:
            nodes.extend([alloc] * pool.count)
    zones = max(p.zones for p in pools)
    groups = [*system_groups(), *demand(ctx.objects)]
    impossible = [(g, why) for g in groups
                  if (why := unsatisfiable(g, len(nodes), zones)) is not None]
    fit = pack(groups, nodes)
    result = Assessment(pools, nodes, groups, fit, impossible, unknown, zones)
    if tenants is None:
        tenants = sorted(o.name for o in ctx.of_kind("Namespace")
                         if o.labels.get("mercury.io/tenant"))
    tenants = list(tenants)
    if tenants and not unknown:
        template = per_tenant(groups, tenants[0], default_instances)
        result.template = tenants[0]
        result.per_tenant_cpu_m = sum(g.cpu_m * g.replicas for g in template)
        result.per_tenant_memory_mi = sum(g.memory_mi * g.replicas for g in template)
        result.more_tenants = more_tenants(groups, template, nodes, zones)
    return result
