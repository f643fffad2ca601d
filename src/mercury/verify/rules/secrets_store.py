"""Azure SecretProviderClass rules: the tenant id and the CSI identity are the right IDs.

The seed's Issue 1: `tenantId` held the subscription id and `userAssignedIdentityID` a
wrong client id, so every pod mounting the volume hung in ContainerCreating. The
platform passes both through Flux substitution from Terraform; these rules compare the
built values with the values of the variables whose Terraform source is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import UUID, is_true


@dataclass
class AzureIds:
    """Substitution variables by what their Terraform expression produces."""

    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # var -> (value, expr)

    def values(self, role: str) -> set[str]:
        return {value for value, expr in self.sources.values() if _role(expr) == role}

    def describe(self, value: str) -> str:
        """Where a value came from: a named variable (with its expression) or a literal."""
        for var, (val, expr) in sorted(self.sources.items()):
            if val == value:
                return f"the value of ${{{var}}} ({expr})"
        return "a literal"

    def variable(self, role: str) -> str:
        for var, (_, expr) in sorted(self.sources.items()):
            if _role(expr) == role:
                return f"${{{var}}} ({expr})"
        return ""


def _role(expr: str) -> str:
    if "key_vault_secrets_provider" in expr and "client_id" in expr:
        return "csi-identity"
    for role in ("tenant_id", "subscription_id", "client_id"):
        if expr.endswith(role) or f".{role}" in expr:
            return role
    return ""


def azure_ids(ctx: VerifyContext) -> AzureIds:
    exprs: dict[str, str] = dict(ctx.terraform.substitute_sources) if ctx.terraform else {}
    for ks in ctx.kustomizations:
        exprs.update(ks.substitute_source)
    ids = AzureIds()
    for ks in ctx.kustomizations:
        for var, value in ks.substitute.items():
            if var in exprs and var not in ids.sources:
                ids.sources[var] = (str(value), exprs[var])
    return ids


def azure_spcs(ctx: VerifyContext) -> Iterable[tuple[K8sObject, dict[str, Any]]]:
    for spc in ctx.of_kind("SecretProviderClass"):
        params = spc.spec.get("parameters")
        if spc.spec.get("provider") == "azure" and isinstance(params, dict):
            yield spc, {k: str(v).strip() for k, v in params.items() if v is not None}


class SpcTenantIdRule(Rule):
    """An Azure SecretProviderClass's tenantId is not the Azure AD tenant id.

    With Terraform facts the value must be the one substituted from
    `azurerm_client_config.*.tenant_id`; without them only certain mistakes are flagged
    (the subscription id, a non-UUID placeholder, the identity's client id).
    """

    id = "spc-tenant-id"
    summary = "SecretProviderClass tenantId is not the Azure tenant id"
    hint = "set tenantId: ${AZURE_TENANT_ID} (data.azurerm_client_config.current.tenant_id)"
    tags = ("azure", "secrets")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        ids = azure_ids(ctx)
        tenants, subscriptions = ids.values("tenant_id"), ids.values("subscription_id")
        for spc, params in azure_spcs(ctx):
            tid = params.get("tenantId", "")
            if not tid or "${" in tid:
                continue
            where = f"SecretProviderClass {spc.namespace}/{spc.name} tenantId {tid!r}"
            problem = None
            if tid in subscriptions:
                problem = f"is the subscription id ({ids.describe(tid)}), not the tenant id"
            elif tenants and tid not in tenants:
                problem = (f"is {ids.describe(tid)}, not the tenant id "
                           f"{ids.variable('tenant_id')}")
            elif not UUID.match(tid):
                problem = "is not a UUID"
            elif tid in (params.get("userAssignedIdentityID"), params.get("clientID")):
                problem = "equals the identity's client id; one of them is wrong"
            if problem:
                yield self.finding(spc, f"{where} {problem}")


class SpcIdentityRule(Rule):
    """An Azure SecretProviderClass's userAssignedIdentityID is not the CSI driver's identity.

    With `useVMManagedIdentity: "true"` the AKS Key Vault Secrets Provider add-on
    authenticates as its own managed identity,
    `key_vault_secrets_provider[0].secret_identity[0].client_id`; any other client id
    fails with "the requested identity isn't assigned to this resource".
    """

    id = "spc-identity"
    summary = "SecretProviderClass userAssignedIdentityID is not the CSI identity's client id"
    hint = ("set userAssignedIdentityID: ${CSI_IDENTITY_CLIENT_ID} (azurerm_kubernetes_cluster."
            "main.key_vault_secrets_provider[0].secret_identity[0].client_id)")
    tags = ("azure", "secrets")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        ids = azure_ids(ctx)
        identities = ids.values("csi-identity")
        others = ids.values("tenant_id") | ids.values("subscription_id")
        for spc, params in azure_spcs(ctx):
            uid = params.get("userAssignedIdentityID", "")
            if params.get("clientID") or not is_true(params.get("useVMManagedIdentity")):
                continue  # workload identity or pod identity: another identity, other rules
            if not uid or "${" in uid:
                continue
            where = f"SecretProviderClass {spc.namespace}/{spc.name} userAssignedIdentityID {uid!r}"
            problem = None
            if identities and uid not in identities:
                problem = (f"is {ids.describe(uid)}, not the CSI identity's client id "
                           f"{ids.variable('csi-identity')}")
            elif uid in others:
                problem = f"is {ids.describe(uid)}, not a managed identity's client id"
            elif not UUID.match(uid):
                problem = "is not a UUID"
            if problem:
                yield self.finding(spc, f"{where} {problem}")
