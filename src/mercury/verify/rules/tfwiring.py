"""Terraform <-> manifests wiring: every name that crosses the boundary exists on both sides.

The manifests name things Terraform creates: Key Vault objects a SecretProviderClass
fetches, the storage account and blob container of a barman-cloud ObjectStore, the
identity (client ID) a pod authenticates as. Terraform names things of the manifests:
the ServiceAccount a federated identity credential trusts. A typo on either side passes
`terraform validate` and `kustomize build` and fails only at run time (a pod stuck in
ContainerCreating, WAL archiving failing with 403). Terraform is evaluated per instance
(tfinstances, `for_each` over the environment's tenants); a value it cannot know offline
is left unchecked, never guessed. Each finding names both ends with file:line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig, is_true, pod_templates
from mercury.verify.rules.isolation import READING_ROLES
from mercury.verify.rules.tfinstances import TfInstance, TfRef, instances, parse_ref, value_index

IDENTITY = "azurerm_user_assigned_identity"
FEDERATED = "azurerm_federated_identity_credential"
ROLE = "azurerm_role_assignment"
WI_USE = "azure.workload.identity/use"
WI_CLIENT = "azure.workload.identity/client-id"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = re.compile(r"^system:serviceaccount:([^:]+):([^:]+)$")
BLOB_URL = re.compile(r"^https://([a-z0-9]+)\.blob\.core\.windows\.net/([^/]+)(?:/.*)?$")
# SecretProviderClass objectType -> the Terraform resource that creates such an object
KV_OBJECT_TYPES = {"secret": "azurerm_key_vault_secret", "key": "azurerm_key_vault_key",
                   "cert": "azurerm_key_vault_certificate"}
BLOB_WRITE_ROLES = {"Storage Blob Data Contributor", "Storage Blob Data Owner"}
# scopes above a resource: they reach everything below them
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 1,000 SPCs in 0.1 s
BROAD_SCOPES = {"azurerm_resource_group", "azurerm_subscription", "azurerm_client_config"}


@dataclass
class _Terraform:
    """The evaluated Terraform side, indexed for O(1) lookups per manifest object."""

    vaults: dict[str, TfInstance]  # value a manifest may hold -> vault
    kv_objects: dict[tuple[str, str | None], dict[str, TfInstance]]  # (type, vault) -> name ->
    accounts: dict[str, TfInstance]  # account name value -> storage account
    containers: dict[tuple[str | None, str], TfInstance]  # (account address, name) ->
    identities: dict[str, TfInstance]  # client id value -> identity
    trusts: dict[str, dict[str, TfInstance]] = field(default_factory=dict)  # identity -> subj ->
    trusted: dict[str, list[TfInstance]] = field(default_factory=dict)  # subject -> credentials
    grants: dict[str, list[tuple[str, TfRef | str | None, TfInstance]]] = \
        field(default_factory=dict)  # identity -> (role, scope, assignment)


def _terraform(ctx: VerifyContext) -> _Terraform:
    assert ctx.terraform is not None
    kv_objects: dict[tuple[str, str | None], dict[str, TfInstance]] = {}
    for type_ in KV_OBJECT_TYPES.values():
        for inst in instances(ctx, type_):
            name = inst.text(ctx, "name")
            vault = inst.ref(ctx, "key_vault_id")
            if name:
                kv_objects.setdefault((type_, vault.address if vault else None), {})[name] = inst
    accounts = value_index(ctx, "azurerm_storage_account", "name")
    containers: dict[tuple[str | None, str], TfInstance] = {}
    for inst in instances(ctx, "azurerm_storage_container"):
        name = inst.text(ctx, "name")
        account = inst.ref(ctx, "storage_account_id")
        if account is None and inst.text(ctx, "storage_account_name"):
            owner = accounts.get(str(inst.text(ctx, "storage_account_name")))
            account_address = owner.address if owner else None
        else:
            account_address = account.address if account else None
        if name:
            containers[(account_address, name)] = inst
    tf = _Terraform(value_index(ctx, "azurerm_key_vault", "name"), kv_objects, accounts,
                    containers, value_index(ctx, IDENTITY, "client_id"))
    for inst in instances(ctx, FEDERATED):
        identity = inst.ref(ctx, "user_assigned_identity_id") or inst.ref(ctx, "parent_id")
        subject = inst.text(ctx, "subject")
        if subject:
            tf.trusted.setdefault(subject, []).append(inst)
            if identity:
                tf.trusts.setdefault(identity.address, {})[subject] = inst
    for inst in instances(ctx, ROLE):
        principal = inst.ref(ctx, "principal_id")
        if principal is None or principal.type != IDENTITY:
            continue
        scope_value = inst.attr(ctx, "scope")
        scope: TfRef | str | None = parse_ref(scope_value) or (
            scope_value if isinstance(scope_value, str) else None)
        tf.grants.setdefault(principal.address, []).append(
            (str(inst.text(ctx, "role_definition_name") or ""), scope, inst))
    return tf


def _reaches(scope: TfRef | str | None, targets: set[str]) -> bool:
    """Whether a role assignment scope covers one of `targets` (instance addresses)."""
    if scope is None:
        return True  # not knowable offline: do not report
    if isinstance(scope, str):
        return True  # a literal ARM ID (subscription, resource group...): not resolved here
    return scope.type in BROAD_SCOPES or scope.address in targets


def _closest(name: str, candidates: dict[str, TfInstance] | list[str]) -> str:
    """` (did you mean X (where)?)` for the nearest candidate name, or nothing."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not match:
        return ""
    where = f" = {candidates[match[0]].where}" if isinstance(candidates, dict) else ""
    return f" (did you mean {match[0]!r}{where}?)"


def _where(obj: K8sObject) -> str:
    return f"{obj.kind} {obj.namespace}/{obj.name} ({obj.origin.file}:{obj.origin.line or '?'})"


def spc_objects(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(objectName, objectType) of an Azure SecretProviderClass's `objects` parameter."""
    try:
        outer = yaml.load(str(params.get("objects") or ""), Loader=_LOADER)
    except yaml.YAMLError:
        return []
    out = []
    for item in (outer or {}).get("array") or [] if isinstance(outer, dict) else []:
        try:
            obj = yaml.load(item, Loader=_LOADER) if isinstance(item, str) else item
        except yaml.YAMLError:
            continue
        if isinstance(obj, dict) and obj.get("objectName"):
            out.append((str(obj["objectName"]), str(obj.get("objectType") or "secret")))
    return out


@dataclass(frozen=True)
class _Need:
    """A pod that must authenticate as `identity` (None: whatever its SA says) as `sa`."""

    owner: K8sObject
    sa: str
    identity: TfInstance | None
    why: str


class TerraformWiringRule(Rule):
    """Names crossing from Terraform into the manifests (and back) exist on the other side.

    - `kv-object`: each object a SecretProviderClass fetches (`parameters.objects`
      objectName, after Flux substitution) is an `azurerm_key_vault_secret` (key,
      certificate) of the vault `keyvaultName` names; `kv-vault`: that vault exists.
    - `storage-account` / `container`: an ObjectStore `destinationPath`
      (`https://<account>.blob.core.windows.net/<container>/...`) names an
      `azurerm_storage_account` and one of its `azurerm_storage_container`s.
    - `federated-sa`: every `azurerm_federated_identity_credential` subject
      `system:serviceaccount:<ns>:<sa>` is a ServiceAccount of the build (explicit, or
      the one CloudNativePG creates per Cluster); `federated-audience`: its audience is
      `api://AzureADTokenExchange`.
    - `unfederated`: a pod that authenticates with workload identity (it mounts an SPC
      with a `clientID`, it is a Cluster whose backups `inheritFromAzureAD`, or it has the
      `azure.workload.identity/use` label) runs as a ServiceAccount the identity has no
      federated credential for; `wi-pod`: such a pod lacks the label, or its
      ServiceAccount lacks the `azure.workload.identity/client-id` annotation.
    - `client-id`: a client ID no `azurerm_user_assigned_identity` of terraform/ has.
    - `role`: the identity lacks the role it needs at a scope that reaches the object
      (Key Vault Secrets User on the secret or its vault; Storage Blob Data Contributor
      on the container or its account).

    Bad: `name = "${each.key}-db-pass"` in keyvault.tf while the SPC fetches
    `customer1-db-password`. Good: one name, declared once per tenant in Terraform.
    """

    id = "terraform-wiring"
    summary = "a name crossing Terraform <-> manifests (Key Vault object, container, "\
              "ServiceAccount, identity, role) does not exist on the other side"
    hint = "make terraform/ and the manifests name the same object (see the message)"
    tags = ("terraform", "azure", "secrets", "backup")
    subs = frozenset({"kv-object", "kv-vault", "storage-account", "container", "federated-sa",
                      "federated-audience", "unfederated", "wi-pod", "client-id", "role"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        tf = _terraform(ctx)
        if not (tf.vaults or tf.accounts or tf.identities or tf.trusted):
            return
        sas = {(obj.namespace, obj.name): obj for obj in ctx.of_kind("ServiceAccount")}
        clusters = {(c.namespace, c.name): c for c in ctx.of_kind("Cluster")
                    if c.group == "postgresql.cnpg.io"}
        needs: list[_Need] = []
        yield from self._spcs(ctx, tf, needs)
        yield from self._object_stores(ctx, tf, clusters, sas, needs)
        yield from self._labelled_pods(ctx, tf, sas, needs)
        yield from self._federation(tf, needs)
        yield from self._subjects(ctx, tf, sas, clusters)

    # ------------------------------------------------------------- Key Vault

    def _spcs(self, ctx: VerifyContext, tf: _Terraform, needs: list[_Need]) -> Iterator[Finding]:
        mounts: dict[tuple[str, str], list[tuple[K8sObject, str]]] = {}
        for pod in pod_templates(ctx):
            for volume in pod.spec.get("volumes") or []:
                name = dig(volume, "csi", "volumeAttributes", "secretProviderClass")
                if name:
                    sa = str(pod.spec.get("serviceAccountName") or "default")
                    mounts.setdefault((pod.owner.namespace, str(name)), []).append((pod.owner, sa))
        for spc in ctx.of_kind("SecretProviderClass"):
            params = spc.spec.get("parameters")
            if spc.spec.get("provider") != "azure" or not isinstance(params, dict):
                continue
            vault_name = str(params.get("keyvaultName") or "")
            vault = tf.vaults.get(vault_name)
            if vault is None and tf.vaults and vault_name and "${" not in vault_name:
                known = ", ".join(sorted(v.where for v in set(tf.vaults.values())))
                yield self.finding(spc, f"{_where(spc)} reads Key Vault {vault_name!r}, which "
                                        f"is no azurerm_key_vault of terraform/ ({known})",
                                   sub="kv-vault")
                continue
            identity = self._identity(spc, str(params.get("clientID") or ""), tf)
            if isinstance(identity, Finding):
                yield identity
                identity = None
            targets: set[str] = set()
            for name, type_ in spc_objects(params):
                if "${" in name or type_ not in KV_OBJECT_TYPES:
                    continue
                resource = KV_OBJECT_TYPES[type_]
                declared = tf.kv_objects.get((resource, vault.address if vault else None), {})
                if vault is None:  # vault unknown: any vault's objects, if Terraform has some
                    declared = {n: i for (t, _), d in tf.kv_objects.items() if t == resource
                                for n, i in d.items()}
                    if not declared:
                        continue  # Terraform does not manage these objects: nothing to compare
                inst = declared.get(name)
                if inst is None:
                    in_vault = f" of {vault.where}" if vault else ""
                    yield self.finding(
                        spc, f"{_where(spc)} fetches Key Vault {type_} {name!r}, but no "
                             f"{resource}{in_vault} is named so{_closest(name, declared)}"
                             f"; the driver fails to mount and the pod stays in "
                             "ContainerCreating", sub="kv-object")
                    continue
                targets.add(inst.address)
                if identity is not None and not self._granted(
                        tf, identity, READING_ROLES, {inst.address, _vault_of(ctx, inst)}):
                    yield self.finding(
                        spc, f"{_where(spc)} fetches {name!r} ({inst.where}) as "
                             f"{identity.where}, which has no Key Vault Secrets User role "
                             "on that secret or its vault", sub="role",
                        hint="add an azurerm_role_assignment (Key Vault Secrets User, scope "
                             "the secret's resource_versionless_id) for the identity")
            if identity is not None:
                for owner, sa in mounts.get((spc.namespace, spc.name), []):
                    needs.append(_Need(owner, sa, identity,
                                       f"mounts SecretProviderClass {spc.name}"))

    def _identity(self, obj: K8sObject, client_id: str,
                  tf: _Terraform) -> TfInstance | Finding | None:
        if not client_id or "${" in client_id or not tf.identities:
            return None
        inst = tf.identities.get(client_id)
        if inst is None:
            return self.finding(obj, f"{_where(obj)} uses client ID {client_id}, which is no "
                                     f"{IDENTITY} of terraform/ (expected the value of a "
                                     f"{IDENTITY}.<name>[<tenant>].client_id substitution)",
                                sub="client-id", severity=Severity.WARNING)
        return inst

    def _granted(self, tf: _Terraform, identity: TfInstance, roles: set[str],
                 targets: set[str]) -> bool:
        return any(role in roles and _reaches(scope, targets)
                   for role, scope, _ in tf.grants.get(identity.address, []))

    # ------------------------------------------------------------- backups

    def _object_stores(self, ctx: VerifyContext, tf: _Terraform,
                       clusters: dict[tuple[str, str], K8sObject],
                       sas: dict[tuple[str, str], K8sObject],
                       needs: list[_Need]) -> Iterator[Finding]:
        users: dict[tuple[str, str], list[K8sObject]] = {}
        for cluster in clusters.values():
            for plugin in cluster.spec.get("plugins") or []:
                store = dig(plugin, "parameters", "barmanObjectName")
                if store:
                    users.setdefault((cluster.namespace, str(store)), []).append(cluster)
        for store in ctx.of_kind("ObjectStore"):
            config = store.spec.get("configuration") or {}
            path = str(config.get("destinationPath") or "")
            match = BLOB_URL.match(path)
            if not match or "${" in path:
                continue
            account_name, container_name = match.groups()
            account = tf.accounts.get(account_name)
            if account is None:
                if tf.accounts:
                    known = ", ".join(sorted(a.where for a in set(tf.accounts.values())))
                    yield self.finding(store, f"{_where(store)} destinationPath {path} names "
                                              f"storage account {account_name!r}, which is no "
                                              f"azurerm_storage_account of terraform/ ({known})",
                                       sub="storage-account")
                continue
            container = tf.containers.get((account.address, container_name))
            if container is None:
                names = {n: i for (a, n), i in tf.containers.items() if a == account.address}
                yield self.finding(
                    store, f"{_where(store)} destinationPath {path} names container "
                           f"{container_name!r}, but no azurerm_storage_container of "
                           f"{account.where} is named so{_closest(container_name, names)}: "
                           "WAL archiving and backups fail", sub="container")
            if not is_true(dig(config, "azureCredentials", "inheritFromAzureAD")):
                continue
            for cluster in users.get((store.namespace, store.name), []):
                sa_name, annotations = _cluster_account(cluster, clusters, sas)
                yield from self._cluster_identity(tf, cluster, store, container, account,
                                                  sa_name, annotations, needs)

    def _cluster_identity(self, tf: _Terraform, cluster: K8sObject, store: K8sObject,
                          container: TfInstance | None, account: TfInstance, sa_name: str,
                          annotations: dict[str, Any], needs: list[_Need]) -> Iterator[Finding]:
        labels = dig(cluster.spec, "inheritedMetadata", "labels") or {}
        why = f"backs up to ObjectStore {store.name} with inheritFromAzureAD"
        if not is_true(labels.get(WI_USE)):
            yield self.finding(cluster, f"{_where(cluster)} {why}, but its pods lack the label "
                                        f"{WI_USE}: \"true\" (spec.inheritedMetadata.labels): "
                                        "the webhook injects no Azure token", sub="wi-pod")
        client_id = str(annotations.get(WI_CLIENT) or "")
        if not client_id:
            yield self.finding(cluster, f"{_where(cluster)} {why}, but its ServiceAccount "
                                        f"{sa_name} has no {WI_CLIENT} annotation "
                                        "(spec.serviceAccountTemplate)", sub="wi-pod")
            return
        identity = self._identity(cluster, client_id, tf)
        if isinstance(identity, Finding):
            yield identity
            return
        if identity is None:
            return
        needs.append(_Need(cluster, sa_name, identity, why))
        if container is not None and not self._granted(tf, identity, BLOB_WRITE_ROLES,
                             {container.address, account.address}):
            yield self.finding(
                cluster, f"{_where(cluster)} {why} as {identity.where}, which has no Storage "
                         f"Blob Data Contributor role on {container.where} or its account",
                sub="role", hint="add an azurerm_role_assignment (Storage Blob Data "
                                 "Contributor, scope the container's id) for the identity")

    # ------------------------------------------------------------- identities

    def _labelled_pods(self, ctx: VerifyContext, tf: _Terraform,
                       sas: dict[tuple[str, str], K8sObject],
                       needs: list[_Need]) -> Iterator[Finding]:
        for pod in pod_templates(ctx):
            if not is_true(pod.labels.get(WI_USE)):
                continue
            sa_name = str(pod.spec.get("serviceAccountName") or "default")
            sa = sas.get((pod.owner.namespace, sa_name))
            client_id = str((sa.annotations if sa else {}).get(WI_CLIENT) or "")
            identity = self._identity(sa, client_id, tf) if sa is not None else None
            if isinstance(identity, Finding):
                yield identity
                identity = None
            needs.append(_Need(pod.owner, sa_name, identity, f"has the label {WI_USE}"))

    def _federation(self, tf: _Terraform, needs: list[_Need]) -> Iterator[Finding]:
        seen: set[tuple[str, str, str]] = set()
        covered = {(n.owner.ref, n.sa) for n in needs if n.identity is not None}
        for need in needs:
            subject = f"system:serviceaccount:{need.owner.namespace}:{need.sa}"
            if need.identity is None:
                if (need.owner.ref, need.sa) in covered or not tf.trusted:
                    continue  # identity from an SPC (checked there), or federation not in TF
                key = (str(need.owner.ref), subject, "")
                if key not in seen and subject not in tf.trusted:
                    seen.add(key)
                    yield self.finding(
                        need.owner, f"{_where(need.owner)} {need.why} and runs as "
                                    f"ServiceAccount {need.sa}, but no {FEDERATED} of "
                                    f"terraform/ trusts {subject}", sub="unfederated")
                continue
            key = (str(need.owner.ref), subject, need.identity.address)
            if key in seen:
                continue
            seen.add(key)
            trusted = tf.trusts.get(need.identity.address, {})
            if subject not in trusted:
                others = ", ".join(sorted(trusted)) or "nothing"
                yield self.finding(
                    need.owner, f"{_where(need.owner)} {need.why} as {need.identity.where} "
                                f"and runs as ServiceAccount {need.sa}, but that identity has "
                                f"no {FEDERATED} for {subject} (it trusts {others}): the token "
                                "exchange fails with AADSTS70021", sub="unfederated",
                    hint=f"federate the identity to {subject}, or run the pod as the "
                         "ServiceAccount it trusts")

    def _subjects(self, ctx: VerifyContext, tf: _Terraform,
                  sas: dict[tuple[str, str], K8sObject],
                  clusters: dict[tuple[str, str], K8sObject]) -> Iterator[Finding]:
        namespaces = {o.name for o in ctx.of_kind("Namespace")} | {o.namespace
                                                                  for o in ctx.objects}
        for subject, creds in sorted(tf.trusted.items()):
            for cred in creds:
                audience = cred.attr(ctx, "audience")
                if isinstance(audience, list) and all(isinstance(a, str) for a in audience) \
                        and AUDIENCE not in audience:
                    yield self._tf_finding(cred, f"{cred.where} has audience {audience}, not "
                                                 f"[{AUDIENCE!r}]: the workload identity "
                                                 "webhook's tokens are refused",
                                           "federated-audience")
            match = SUBJECT.match(subject)
            if not match:
                continue
            ns, sa = match.groups()
            if (ns, sa) in sas or (ns, sa) in clusters:
                continue
            cred = creds[0]
            if ns not in namespaces:
                problem = f"namespace {ns} is not in the build"
            else:
                problem = (f"namespace {ns} has no ServiceAccount {sa} (nor a CloudNativePG "
                           f"Cluster of that name){_closest(sa, _sa_names(sas, clusters, ns))}")
            yield self._tf_finding(cred, f"{cred.where} trusts {subject}, but {problem}: "
                                         "no pod can use the identity", "federated-sa")

    def _tf_finding(self, inst: TfInstance, message: str, sub: str) -> Finding:
        return Finding(rule=f"{self.id}[{sub}]", severity=self.severity, object=inst.address,
                       message=message, hint=self.hint, file=inst.file, line=inst.line,
                       tenant=str(inst.key) if isinstance(inst.key, str) else None)


def _cluster_account(cluster: K8sObject, clusters: dict[tuple[str, str], K8sObject],
                     sas: dict[tuple[str, str], K8sObject]) -> tuple[str, dict[str, Any]]:
    """The ServiceAccount a CNPG Cluster's pods run as, and its annotations: its own (named
    after it, from serviceAccountTemplate) or an existing one (`spec.serviceAccountName`,
    e.g. a restore reusing the source cluster's, which CNPG made from that one's template)."""
    name = str(cluster.spec.get("serviceAccountName") or cluster.name)
    owner = cluster if name == cluster.name else clusters.get((cluster.namespace, name))
    if owner is not None:
        found = dig(owner.spec, "serviceAccountTemplate", "metadata", "annotations")
        return name, found if isinstance(found, dict) else {}
    sa = sas.get((cluster.namespace, name))
    return name, dict(sa.annotations) if sa is not None else {}


def _sa_names(sas: dict[tuple[str, str], K8sObject],
              clusters: dict[tuple[str, str], K8sObject], ns: str) -> list[str]:
    return [n for (s, n) in [*sas, *clusters] if s == ns]


def _vault_of(ctx: VerifyContext, secret: TfInstance) -> str:
    vault = secret.ref(ctx, "key_vault_id")
    return vault.address if vault else ""
