"""n8n rules: a stable encryption key from a Secret, one replica unless queue mode, probes.

n8n encrypts stored credentials with N8N_ENCRYPTION_KEY; without a stable key from a
Secret, a rescheduled pod generates a new one and every credential becomes unreadable.
Two replicas without queue mode both run every schedule trigger: workflows fire twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import containers, dig, pod_templates
from mercury.verify.rules.secrets import secret_providers

N8N_IMAGE = "n8nio/n8n"
KEY = "N8N_ENCRYPTION_KEY"
RWO = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})


def n8n_containers(obj: K8sObject) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) for each n8n container of a Deployment/StatefulSet."""
    if obj.kind not in ("Deployment", "StatefulSet"):
        return
    pod = dig(obj.spec, "template", "spec")
    if not isinstance(pod, dict):
        return
    for c in pod.get("containers") or []:
        if isinstance(c, dict) and N8N_IMAGE in str(c.get("image", "")):
            yield pod, c


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(e.get("name")): e for e in container.get("env") or [] if isinstance(e, dict)}


class N8nEncryptionKeyRule(Rule):
    """An n8n container has no N8N_ENCRYPTION_KEY from a Secret: missing (n8n generates a
    key per pod filesystem) or a literal value (the key is in git).
    """

    id = "n8n-encryption-key"
    summary = "n8n without a stable N8N_ENCRYPTION_KEY from a Secret"
    hint = ("set env N8N_ENCRYPTION_KEY from secretKeyRef (Key Vault secret "
            "<tenant>-n8n-encryption-key synced as Secret n8n-encryption-key)")
    tags = ("n8n", "secrets")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        providers = secret_providers(ctx)
        for obj in ctx.of_kind("Deployment", "StatefulSet"):
            for _, c in n8n_containers(obj):
                where = f"{obj.kind} {obj.namespace}/{obj.name} container {c.get('name')}"
                env = _env(c)
                if f"{KEY}_FILE" in env:
                    continue
                if KEY in env:
                    if "value" in env[KEY] and not env[KEY].get("valueFrom"):
                        yield self.finding(obj, f"{where} sets {KEY} as a literal value: the "
                                                "key is in git and changes with every edit")
                    continue
                if not any(self._env_from_provides(obj.namespace, ef, providers)
                           for ef in c.get("envFrom") or []):
                    yield self.finding(obj, f"{where} has no {KEY}: n8n generates a key per "
                                            "pod, and stored credentials become unreadable "
                                            "when the pod moves")

    @staticmethod
    def _env_from_provides(namespace: str, env_from: object,
                           providers: dict[tuple[str, str], list[Any]]) -> bool:
        name = dig(env_from, "secretRef", "name")
        if not name:
            return False
        found = providers.get((namespace, str(name)), [])
        return not found or any(p.keys is None or KEY in p.keys for p in found)


class N8nReplicasRule(Rule):
    """n8n runs more than one replica (or an HPA may scale it) without EXECUTIONS_MODE=queue:
    every replica runs the schedule triggers, so workflows fire twice. Sub-id
    `n8n-replicas[strategy]` (warning): a RollingUpdate with a ReadWriteOnce volume starts
    the new pod before the old one releases the disk, so the rollout hangs.
    """

    id = "n8n-replicas"
    subs = frozenset({"strategy"})
    summary = "n8n scaled beyond one replica without queue mode, or RollingUpdate on a RWO PVC"
    hint = "keep replicas: 1 with strategy Recreate, or run n8n in queue mode (Redis + workers)"
    tags = ("n8n", "availability")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        hpa_max = {(h.namespace, str(dig(h.spec, "scaleTargetRef", "name"))):
                   h.spec.get("maxReplicas", 1) for h in ctx.of_kind("HorizontalPodAutoscaler")}
        for obj in ctx.of_kind("Deployment", "StatefulSet"):
            for pod, c in n8n_containers(obj):
                replicas = obj.spec.get("replicas", 1)
                scale = max(replicas if isinstance(replicas, int) else 1,
                            hpa_max.get((obj.namespace, obj.name), 1) or 1)
                mode = str(_env(c).get("EXECUTIONS_MODE", {}).get("value", "regular"))
                where = f"{obj.kind} {obj.namespace}/{obj.name}"
                if scale > 1 and mode != "queue":
                    yield self.finding(obj, f"{where} runs up to {scale} n8n replicas with "
                                            f"EXECUTIONS_MODE={mode}: schedules run on each")
                yield from self._strategy(obj, pod, ctx)
                break

    def _strategy(self, obj: K8sObject, pod: dict[str, Any],
                  ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "Deployment" or dig(obj.spec, "strategy", "type") == "Recreate":
            return
        for vol in pod.get("volumes") or []:
            claim = dig(vol, "persistentVolumeClaim", "claimName")
            pvc = ctx.get("PersistentVolumeClaim", obj.namespace, str(claim)) if claim else None
            if pvc is not None and RWO & set(pvc.spec.get("accessModes") or []):
                yield self.finding(
                    obj, f"Deployment {obj.namespace}/{obj.name} uses a RollingUpdate with "
                         f"ReadWriteOnce PersistentVolumeClaim {obj.namespace}/{claim}: the new "
                         "pod waits for the old one's volume", sub="strategy",
                    severity=Severity.WARNING, hint="set spec.strategy.type: Recreate")
                return


class N8nProbesRule(Rule):
    """An n8n container lacks a readiness or liveness probe: traffic reaches it before it
    has migrated the database, and a hung process is never restarted.
    """

    id = "n8n-probes"
    summary = "n8n container without readiness/liveness probes"
    severity = Severity.WARNING
    hint = "probe GET /healthz (liveness) and /healthz/readiness (readiness) on the n8n port"
    tags = ("n8n", "availability")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        for tpl in pod_templates(ctx):
            for c in containers(tpl.spec):
                if N8N_IMAGE not in str(c.get("image", "")):
                    continue
                missing = [p for p in ("readinessProbe", "livenessProbe") if not c.get(p)]
                if missing and tpl.owner.kind in ("Deployment", "StatefulSet"):
                    yield self.finding(tpl.owner, f"{tpl.owner.kind} {tpl.owner.namespace}/"
                                                  f"{tpl.owner.name} container {c.get('name')} "
                                                  f"has no {' or '.join(missing)}")
