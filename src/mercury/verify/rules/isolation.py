"""Cross-tenant secret isolation: which namespace can read which tenant's Key Vault secrets.

n8n runs customer-written HTTP and Code nodes, so anything a tenant pod can obtain a
token for, the customer can use. Two ways lead from a pod to an Entra identity:

- workload identity: an identity's federated credential trusts a ServiceAccount token
  (`system:serviceaccount:NS:SA`), so pods of namespace NS can act as it;
- the node's managed identities (the Key Vault add-on's, the kubelet's): every pod that
  reaches the instance metadata endpoint 169.254.169.254 can act as them.

For every identity the rule joins the Key Vault secrets its role assignments reach (a
vault, resource group or subscription scope reaches every secret) with the namespaces
that can act as it, and reports a namespace that can read a secret of another tenant.
A secret belongs to a tenant when it is an instance of a `for_each` whose key is a tenant
of `local.tenants`. Expressions it cannot resolve offline are left unchecked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mercury.builder.hcl_eval import HclEvalError, evaluate_hcl2
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.terraform import terraform_scope
from mercury.verify.rules.tfresources import TfResource, resources, unwrap

READING_ROLES = {"Key Vault Secrets User", "Key Vault Secrets Officer", "Key Vault Administrator"}
NODE = "node"  # pseudo identity: the node's managed identities, through IMDS
REF = re.compile(r'^(data\.)?(azurerm_\w+)\.([\w-]+)(?:\[(each\.key|\d+|"[^"]*")\])?\.(.+)$')
SUBJECT = re.compile(r"^system:serviceaccount:([^:]+):([^:]+)$")

Key = str | int | None


@dataclass(frozen=True)
class _Ref:
    type: str
    name: str
    key: Key
    attr: str

    @property
    def instance(self) -> str:
        return _address(self.type, self.name, self.key)


def _address(type_: str, name: str, key: Key) -> str:
    if key is None:
        return f"{type_}.{name}"
    return f'{type_}.{name}["{key}"]' if isinstance(key, str) else f"{type_}.{name}[{key}]"


def _resolve(value: object, key: Key) -> _Ref | None:
    match = REF.match(unwrap(value))
    if not match:
        return None
    _, type_, name, index, attr = match.groups()
    ref_key: Key = None
    if index == "each.key":
        ref_key = key
    elif index and index.isdigit():
        ref_key = int(index)
    elif index:
        ref_key = index.strip('"')
    return _Ref(type_, name, ref_key, attr)


def _instance_keys(res: TfResource, ctx: VerifyContext) -> list[Key]:
    """The for_each keys (or count indexes) of a resource; [None] for a single one."""
    assert ctx.terraform is not None
    scope = terraform_scope(ctx.terraform)
    for attr in ("for_each", "count"):
        if attr not in res.body:
            continue
        try:
            value = evaluate_hcl2(res.body[attr], scope)
        except HclEvalError:
            value = None
        if attr == "for_each" and isinstance(value, (dict, list, set, tuple)):
            return [str(k) for k in value]
        if attr == "count" and isinstance(value, int):
            return list(range(value))
        return [1] if attr == "count" else []  # unknown: one instance, or none at all
    return [None]


def _tenants(ctx: VerifyContext) -> set[str]:
    assert ctx.terraform is not None
    try:
        value = evaluate_hcl2("${local.tenants}", terraform_scope(ctx.terraform))
    except HclEvalError:
        return set()
    return {str(k) for k in value} if isinstance(value, dict) else set()


@dataclass(frozen=True)
class _Secret:
    address: str
    vault: str
    owner: str | None  # tenant, or None for a shared platform secret


@dataclass(frozen=True)
class _Grant:
    identity: str  # instance address, or NODE
    secrets: frozenset[_Secret]
    role: str
    assignment: TfResource


def imds_open(ctx: VerifyContext, namespace: str) -> bool:
    """Whether some pod of `namespace` may reach 169.254.169.254:80 under its policies
    (the network evaluator's answer). Besides the built pods, pods that could exist
    count: one with no labels, and one per policy carrying its matchLabels."""
    from mercury.verify.network import analyze
    from mercury.verify.network.isolation import IMDS
    from mercury.verify.network.pods import Pod

    net = analyze(ctx).network
    could: list[dict[str, str]] = [{}]
    could += [dict((p.pod_selector or {}).get("matchLabels") or {})
                    for p in net.policies.get(namespace, ())]
    pods = [*net.pods.get(namespace, ()),
            *(Pod(namespace, labels, (), f"a pod of {namespace}", "workload") for labels in could)]
    return any(net.verdict(pod, IMDS, 80).allowed for pod in pods)


class TenantSecretIsolation(Rule):
    """No identity a tenant namespace can act as may read another tenant's Key Vault secrets.

    Bad: the Key Vault add-on's node identity with Key Vault Secrets User on the whole
    vault while tenant pods can reach 169.254.169.254; or a tenant identity whose
    federated credential trusts a ServiceAccount in another tenant's namespace.
    Good: one identity per tenant, federated to `system:serviceaccount:<tenant>:n8n`,
    with Key Vault Secrets User on each of the tenant's secrets
    (`azurerm_key_vault_secret.x[each.key].resource_versionless_id`), and no egress to
    the metadata endpoint.
    """

    id = "tenant-secret-isolation"
    summary = "a namespace can obtain an identity that reads another tenant's Key Vault secrets"
    hint = ("scope Key Vault roles to the tenant's own secrets, federate each identity only "
            "to its tenant's namespace, and block 169.254.169.254 in tenant egress")
    tags = ("terraform", "azure", "security", "secrets")

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        tenants = _tenants(ctx)
        if not tenants:
            return
        secrets = self._secrets(ctx, tenants)
        reach = self._namespaces(ctx)
        node_namespaces = {ns for ns in sorted(tenants) if imds_open(ctx, ns)}
        # (identity, namespace) -> the foreign secrets and the assignments granting them
        leaks: dict[tuple[str, str], tuple[set[str], list[_Grant]]] = {}
        for grant in self._grants(ctx, secrets):
            namespaces = node_namespaces if grant.identity == NODE \
                else reach.get(grant.identity, set())
            for ns in namespaces:
                foreign = {s.address for s in grant.secrets if s.owner not in (None, ns)}
                if foreign:
                    found, grants = leaks.setdefault((grant.identity, ns), (set(), []))
                    found |= foreign
                    grants.append(grant)
        for (identity, ns), (found, grants) in sorted(leaks.items()):
            yield self._leak(identity, ns, sorted(found), grants)

    def _leak(self, identity: str, ns: str, foreign: list[str], grants: list[_Grant]) -> Finding:
        how = ("the node's managed identity, through the instance metadata endpoint "
               "(egress to 169.254.169.254 is open)" if identity == NODE else
               f"{identity} (federated to a ServiceAccount of {ns})")
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more"
                                          if len(foreign) > 4 else "")
        first = grants[0].assignment
        through = ", ".join(sorted({f"{g.assignment.address} ({g.role})" for g in grants}))
        finding = self.finding(
            None, f"pods of namespace {ns} can act as {how}, which {through} lets read "
                  f"other tenants' secrets: {shown}", file=first.file, line=first.line)
        who = first.address if identity == NODE else identity
        return dataclasses.replace(finding, object=who, tenant=ns)

    def _secrets(self, ctx: VerifyContext, tenants: set[str]) -> list[_Secret]:
        assert ctx.terraform is not None
        out = []
        for res in resources(ctx.terraform, "azurerm_key_vault_secret"):
            for key in _instance_keys(res, ctx):
                vault = _resolve(res.body.get("key_vault_id", ""), key)
                owner = key if isinstance(key, str) and key in tenants else None
                out.append(_Secret(_address(res.type, res.name, key),
                                   vault.instance if vault else "?", owner))
        return out

    def _grants(self, ctx: VerifyContext, secrets: list[_Secret]) -> Iterator[_Grant]:
        assert ctx.terraform is not None
        index: dict[tuple[str, str], list[_Secret]] = {}
        for secret in secrets:
            index.setdefault(("address", secret.address), []).append(secret)
            index.setdefault(("vault", secret.vault), []).append(secret)
        for res in resources(ctx.terraform, "azurerm_role_assignment"):
            role = str(res.body.get("role_definition_name", ""))
            if role not in READING_ROLES:
                continue
            for key in _instance_keys(res, ctx):
                principal_text = unwrap(res.body.get("principal_id", ""))
                principal = _resolve(principal_text, key)
                if principal is None:
                    continue
                if principal.type == "azurerm_kubernetes_cluster" and (
                        "key_vault_secrets_provider" in principal_text
                        or "kubelet_identity" in principal_text):
                    identity = NODE
                elif principal.type == "azurerm_user_assigned_identity":
                    identity = principal.instance
                else:
                    continue  # the deployer, a group...: no pod can act as it
                reached = _reached(res.body.get("scope", ""), key, secrets, index)
                if reached:
                    yield _Grant(identity, frozenset(reached), role, res)

    def _namespaces(self, ctx: VerifyContext) -> dict[str, set[str]]:
        """identity instance -> namespaces whose ServiceAccounts it trusts."""
        assert ctx.terraform is not None
        out: dict[str, set[str]] = {}
        for res in resources(ctx.terraform, "azurerm_federated_identity_credential"):
            for key in _instance_keys(res, ctx):
                target = res.body.get("user_assigned_identity_id") or res.body.get("parent_id")
                identity = _resolve(target or "", key)
                subject = str(res.body.get("subject", "")).replace("${each.key}", str(key))
                match = SUBJECT.match(subject)
                if identity and match:
                    out.setdefault(identity.instance, set()).add(match.group(1))
        return out


def _reached(scope_value: object, key: Key, secrets: list[_Secret],
             index: dict[tuple[str, str], list[_Secret]]) -> list[_Secret]:
    """The secrets a role assignment's scope covers (`index`: by address and by vault,
    so 1,000 tenants' assignments are not each compared with every secret)."""
    scope = _resolve(scope_value, key)
    text = unwrap(scope_value)
    if scope is None:
        if text.startswith("/subscriptions/") and "/secrets/" not in text:
            return secrets  # a literal subscription/resource group/vault scope
        return []
    if scope.type == "azurerm_key_vault_secret":
        return index.get(("address", scope.instance), [])
    if scope.type == "azurerm_key_vault":
        return index.get(("vault", scope.instance), [])
    if scope.type in {"azurerm_resource_group", "azurerm_subscription", "azurerm_client_config"}:
        return secrets
    return []
