"""Terraform checks: what terraform/ hands to Flux must match the repository.

Terraform declares the Flux Kustomizations (`azurerm_kubernetes_flux_configuration`)
and the values the manifests receive (`post_build.substitute`). A path that does not
exist, a dependsOn on no Kustomization, or a `${VAR}` nobody provides all pass
`terraform validate` and only fail in the cluster (Flux substitutes a missing
variable with an empty string). Expressions are evaluated offline with
`mercury.builder.hcl_eval`; whatever it cannot evaluate is left unchecked, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from mercury.builder.hcl_eval import Scope
from mercury.builder.terraform import FluxLayer
from mercury.builder.terraform import flux_layers as evaluated_layers
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.manifest_vars import VarUse, variables_used
from mercury.verify.rules.base import Rule

FLUX_CONFIG = "azurerm_kubernetes_flux_configuration"
TENANT_ID_SOURCE = re.compile(r"^data\.azurerm_client_config\.[A-Za-z0-9_-]+\.tenant_id$")


def flux_layers(facts: TerraformFacts) -> list[FluxLayer]:
    """Every `kustomizations` block of every Flux configuration, from the builder's one
    evaluation (the same the build reconciles from)."""
    return list(evaluated_layers(facts.root, facts.environment))


def _scope(facts: TerraformFacts) -> Scope:
    """Variables (defaults) and locals of the parsed files, relative to the module that
    holds the Flux configuration (else the first module)."""
    variables: dict[str, Any] = {}
    locals_src: dict[str, Any] = {}
    for doc in facts.files.values():
        for block in doc.get("locals") or []:
            locals_src.update(block)
        for block in doc.get("variable") or []:
            for name, spec in block.items():
                if isinstance(spec, dict) and "default" in spec:
                    variables[name] = spec["default"]
    if facts.environment:
        variables["environment"] = facts.environment
    dirs = [Path(f).parent.as_posix() for f, doc in sorted(facts.files.items())
            if any(FLUX_CONFIG in block for block in doc.get("resource") or [])]
    dirs = dirs or sorted(Path(f).parent.as_posix() for f in facts.files)
    return Scope(variables, locals_src, (facts.root / (dirs[0] if dirs else ".")).resolve())


def _is_provided(var: str, provided: dict[str, str]) -> bool:
    return var in provided or any(k.endswith("*") and var.startswith(k[:-1]) for k in provided)


def _line_of(facts: TerraformFacts, file: str, pattern: str) -> int | None:
    """1-based line of the first match of `pattern` in a Terraform file (for reports)."""
    lines = facts.cache.setdefault("lines", {})
    if file not in lines:
        try:
            lines[file] = (facts.root / file).read_text(encoding="utf-8")
        except OSError:
            lines[file] = ""
    match = re.search(pattern, lines[file])
    return lines[file].count("\n", 0, match.start()) + 1 if match else None


# ------------------------------------------------------------------ rules


def _layers_with_manifests(ctx: VerifyContext) -> list[FluxLayer]:
    """Terraform's layers (YAML-declared Kustomizations are unsubstituted-var's: their
    values may come from substituteFrom objects of the build)."""
    return flux_layers(ctx.terraform) if ctx.terraform else []


def _uses(ctx: VerifyContext, layer: FluxLayer) -> dict[str, VarUse]:
    cache = ctx.cache.setdefault("terraform", {})
    per_layer = cache.setdefault("uses", {})
    if layer.path not in per_layer:
        per_layer[layer.path] = variables_used(ctx.root, layer.path or ".", cache)
    uses: dict[str, VarUse] = per_layer[layer.path]
    return uses


class _TerraformRule(Rule):
    tags: ClassVar[tuple[str, ...]] = ("terraform", "flux")

    def at(self, layer: FluxLayer, message: str, **kw: Any) -> Finding:
        return Finding(rule=self.id + (f"[{kw['sub']}]" if kw.get("sub") else ""),
                       severity=kw.get("severity") or self.severity, object=layer.object,
                       message=message, hint=kw.get("hint") or self.hint,
                       file=kw.get("file") or layer.file, line=kw.get("line") or layer.line,
                       kustomization=layer.name)


class FluxPathMissing(_TerraformRule):
    """A Flux Kustomization whose path is not a directory of the repository: Flux reports
    "kustomization path not found" and applies nothing of that layer.

    Bad: `path = "./apps/${var.environment}"` with no apps/prod/ for environment prod.
    Good: run `mercury render` so apps/<env>/ exists, or fix the path.
    """

    id = "flux-path-missing"
    summary = "a Flux Kustomization in Terraform points at a path that does not exist"
    hint = "create the directory (mercury render) or fix `path` in the flux configuration"

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        for layer in flux_layers(ctx.terraform):
            if layer.path is None or "${" in layer.path:
                continue  # not evaluable offline: do not guess
            if not (ctx.root / layer.path).is_dir():
                env = f" for environment {ctx.terraform.environment}" \
                    if ctx.terraform.environment else ""
                yield self.at(layer, f"Flux Kustomization {layer.name} ({layer.file}) has "
                                     f"path {layer.raw_path!r} = ./{layer.path}{env}, which "
                                     "is not a directory of the repository")


class SubstitutionMissing(_TerraformRule):
    """A `${VAR}` in the manifests of a Kustomization that its post_build.substitute does
    not provide and that has no default: Flux replaces it with an empty string.

    Bad: `tenantId: ${AZURE_TENANT_ID}` with no AZURE_TENANT_ID in `substitute`.
    Good: add it to `local.flux_substitutions`, or write `${AZURE_TENANT_ID:=...}`.
    """

    id = "substitution-missing"
    summary = "a ${VAR} used by the manifests is not provided by the Kustomization's postBuild"
    hint = "add the variable to post_build.substitute (terraform/flux.tf) or give it a default"

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        for layer in _layers_with_manifests(ctx):
            if layer.provided is None or layer.path is None:
                continue
            for var, use in sorted(_uses(ctx, layer).items()):
                if not _is_provided(var, layer.provided) and not use.has_default:
                    yield self.at(layer, f"{use.file}:{use.line} uses ${{{var}}}, which Flux "
                                         f"Kustomization {layer.name} ({layer.file}) does not "
                                         "provide in post_build.substitute (no default): "
                                         "Flux would substitute an empty string",
                                  file=use.file, line=use.line)


class SubstitutionUnused(_TerraformRule):
    """A variable provided to Kustomizations whose manifests never use it (dead wiring).

    Bad: `OLD_NAME = ...` left in substitute after a rename.  Good: remove it.
    """

    id = "substitution-unused"
    summary = "a post_build.substitute variable is used by none of the manifests it is given to"
    severity = Severity.INFO
    hint = "remove the variable from post_build.substitute, or use it"

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        given: dict[str, list[FluxLayer]] = {}
        used: set[str] = set()
        for layer in _layers_with_manifests(ctx):
            if layer.provided is None or layer.path is None:
                continue
            used |= set(_uses(ctx, layer))
            for var in layer.provided:
                if not var.endswith("*"):  # computed names (one per tenant) are not listed
                    given.setdefault(var, []).append(layer)
        for var, layers in sorted(given.items()):
            if var not in used:
                names = ", ".join(layer.name for layer in layers)
                yield self.at(layers[0], f"${{{var}}} is provided to Flux Kustomization(s) "
                                         f"{names} ({layers[0].file}) but no manifest of "
                                         "theirs uses it")


class KeyVaultRbac(_TerraformRule):
    """A Key Vault on access policies instead of Azure RBAC: the CSI identity's access is
    then granted outside the role assignments Terraform manages.

    Bad: no `rbac_authorization_enabled`.  Good: `rbac_authorization_enabled = true`
    (azurerm >= 4.x; `enable_rbac_authorization` is the deprecated name).
    """

    id = "keyvault-rbac"
    summary = "an azurerm_key_vault does not use RBAC authorization"
    hint = "set `rbac_authorization_enabled = true` and grant access with role assignments"
    tags = ("terraform", "keyvault", "security")

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        for file, doc in sorted(ctx.terraform.files.items()):
            for block in doc.get("resource") or []:
                for name, vault in (block.get("azurerm_key_vault") or {}).items():
                    values = [vault.get(k) for k in ("rbac_authorization_enabled",
                                                     "enable_rbac_authorization") if k in vault]
                    if any(v is True or str(v).lower() == "true" or "${" in str(v)
                           for v in values):
                        continue  # true, or an expression we cannot evaluate offline
                    state = "false" if values else "not set"
                    yield Finding(
                        rule=self.id, severity=self.severity,
                        object=f"azurerm_key_vault.{name}",
                        message=f"azurerm_key_vault.{name} ({file}) has RBAC authorization "
                                f"{state}: the secrets the manifests read are then governed "
                                "by access policies",
                        hint=self.hint, file=file,
                        line=_line_of(ctx.terraform, file,
                                      rf'resource\s+"azurerm_key_vault"\s+"{re.escape(name)}"'))


class TenantIdSource(_TerraformRule):
    """The Azure tenant ID must come from `data.azurerm_client_config.*.tenant_id`; the
    seed copied the subscription ID into `tenantId`, and the CSI driver then fails with
    an opaque AADSTS error.

    Bad: `AZURE_TENANT_ID = data.azurerm_client_config.current.subscription_id`.
    Good: `AZURE_TENANT_ID = data.azurerm_client_config.current.tenant_id`.
    """

    id = "tenant-id-source"
    subs = frozenset({"source"})
    summary = "a tenant ID is taken from a subscription ID (or not from azurerm_client_config)"
    hint = "use data.azurerm_client_config.current.tenant_id"
    tags = ("terraform", "azure")

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        for layer in flux_layers(ctx.terraform):
            for var, expr in sorted((layer.provided or {}).items()):
                if "TENANT_ID" not in var.upper():
                    continue
                if "subscription_id" in expr:
                    yield self.at(layer, f"post_build.substitute {var} of Flux Kustomization "
                                         f"{layer.name} ({layer.file}) is {expr}: a "
                                         "subscription ID, not the tenant ID")
                elif not TENANT_ID_SOURCE.match(expr.strip()):
                    yield self.at(layer, f"post_build.substitute {var} of Flux Kustomization "
                                         f"{layer.name} ({layer.file}) is {expr}, not "
                                         "data.azurerm_client_config.<name>.tenant_id",
                                  sub="source", severity=Severity.WARNING)
        for file, doc in sorted(ctx.terraform.files.items()):
            for where, value in _attributes(doc, "tenant_id"):
                if "subscription_id" in str(value):
                    yield Finding(
                        rule=self.id, severity=self.severity, object=where,
                        message=f"{where} ({file}) sets tenant_id = {value}: a subscription "
                                "ID, not the tenant ID",
                        hint=self.hint, file=file,
                        line=_line_of(ctx.terraform, file, r"tenant_id\s*=.*subscription_id"))


def _attributes(node: Any, name: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted location, value) of every attribute `name` anywhere in a parsed HCL tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where and where != "resource" else str(key)
            if key == name and not isinstance(value, (dict, list)):
                yield here, value
            else:
                yield from _attributes(value, name, here)
    elif isinstance(node, list):
        for item in node:
            yield from _attributes(item, name, where)


RULES: list[Rule] = [FluxPathMissing(), SubstitutionMissing(),
                     SubstitutionUnused(), KeyVaultRbac(), TenantIdSource()]


def terraform_scope(facts: TerraformFacts) -> Scope:
    """Variables (defaults) and locals of terraform/, for rules that evaluate expressions."""
    cached = facts.cache.get("scope")
    if cached is None:
        cached = facts.cache["scope"] = _scope(facts)
    scope: Scope = cached
    return scope
