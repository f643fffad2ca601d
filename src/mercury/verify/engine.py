"""`verify` as a library: build every layer, then run every rule over the result.

Findings are never lost: a layer that cannot be built becomes a `build-failure`, an
unparseable Terraform file a `parse-error`, and a rule that raises an `internal-error`
naming the rule; every other rule still runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mercury.builder.model import BuildResult, FluxKustomization, K8sObject
from mercury.builder.reconcile import Reconciled
from mercury.errors import InputError
from mercury.verify.apiserver_check import OFF, ApiServerCheck, Setting
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.schemas import SchemaStore, check_schema_location

SKIP_ANNOTATION = "mercury.io/skip"


class BuildFailure(Rule):
    """A Flux Kustomization whose path cannot be built: Flux would apply nothing of it."""

    id = "build-failure"
    summary = "a Flux Kustomization cannot be built (kustomize or substitution failed)"
    hint = "run `mercury build --kustomization NAME` to see the full kustomize error"


class InternalError(Rule):
    """A rule of mercury raised an exception: a bug in mercury, not in the repository."""

    id = "internal-error"
    summary = "a mercury rule crashed; the other rules still ran"
    hint = "a bug in mercury: please report it; `--skip RULE` silences the rule meanwhile"


class ParseError(Rule):
    """A Terraform file python-hcl2 cannot parse: the Terraform checks could not run."""

    id = "parse-error"
    summary = "a Terraform file cannot be parsed, so the Terraform checks skipped it"
    hint = "run `terraform fmt` on the file to see the syntax error"


class SourceExternal(Rule):
    """A Flux Kustomization whose source is not this repository (another GitRepository,
    an OCIRepository, a Bucket, an ExternalArtifact): its manifests are not here, so it
    was not checked. Informational, never a failure.
    """

    id = "source-external"
    summary = "a Flux Kustomization takes its manifests from another source; not checked"
    severity = Severity.INFO
    hint = "verify that source's repository on its own"


class RemoteResource(Rule):
    """A kustomization names remote resources (URLs, `github.com/...` bases, generator
    files from URLs) that Flux fetches when it builds; mercury is offline, so it built and
    checked the rest without them. Informational: what they define was not checked.
    """

    id = "remote-resource"
    summary = "a Flux Kustomization uses remote resources; built and checked without them"
    severity = Severity.INFO
    hint = "vendor the remote manifests into the repository to have them checked"


ENGINE_RULES: list[Rule] = [BuildFailure(), InternalError(), ParseError(), SourceExternal(),
                            RemoteResource()]


def all_rules() -> list[Rule]:
    """The registry: the engine's own rules, then ALL_RULES (schema, Terraform, cross-object)."""
    from mercury.verify import rules

    found: list[Rule] | None = getattr(rules, "ALL_RULES", None)
    if found is None:  # the cross-object registry is not there yet: ours only
        from mercury.verify.rules import schema, terraform

        found = schema.RULES + terraform.RULES
    return ENGINE_RULES + [r for r in found if r.id not in {e.id for e in ENGINE_RULES}]


@dataclass
class Summary:
    """Counts for the report's last line and the JSON `summary`."""

    errors: int = 0
    warnings: int = 0
    infos: int = 0
    suppressed: int = 0
    objects: int = 0
    kustomizations: int = 0
    rules: int = 0
    seconds: float = 0.0
    environment: str | None = None
    root: str = ""
    schema_location: str = ""
    kubernetes_version: str = ""
    nothing_to_check: bool = False
    environments: tuple[str, ...] = ()  # every environment the repository declares
    skipped: int = 0  # declared Flux Kustomizations no root reaches (not verified)
    apiserver: str = ""  # one line: what the API server check did, or why it did not run

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "errors": self.errors,
            "warnings": self.warnings,
            "info": self.infos,
            "suppressed": self.suppressed,
            "objects": self.objects,
            "kustomizations": self.kustomizations,
            "rules": self.rules,
            "seconds": round(self.seconds, 3),
            "environment": self.environment,
            "environments": list(self.environments),
            "skipped_kustomizations": self.skipped,
            "schema_location": self.schema_location,
            "kubernetes_version": self.kubernetes_version,
            "apiserver": self.apiserver,
            "exit_code": self.exit_code,
        }


@dataclass
class VerifyReport:
    findings: list[Finding] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    builds: list[BuildResult] = field(default_factory=list)  # what was checked, per layer

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


def verify_repo(
    root: Path,
    *,
    env: str | None = None,
    schema_location: str | None = None,
    values: Path | None = None,
    skip: Sequence[str] = (),
    rules: list[Rule] | None = None,
    include_all: bool = False,
    apiserver: str | Setting | ApiServerCheck | None = OFF,
    crds: Sequence[Path] = (),
    terraform_schema: str | None = None,
) -> VerifyReport:
    """Build, load Terraform, and run every rule (minus `skip`) over a repository.

    `root` may be a sub-directory: the repository root is found (repo_root). Only what
    the roots of the environment reach is verified (`include_all`: every declaration).
    `apiserver` is `auto`/`off`/a directory of binaries (see apiserver_check), or a
    check the caller owns (and closes); `crds` are installed into the server first.
    `terraform_schema`: provider schemas for terraform-schema (see verify/tfschema.py).
    """
    started = time.perf_counter()
    check_schema_location(schema_location)
    given = Path(root).resolve()
    if not given.is_dir():
        raise InputError(f"{given}: not a directory")
    root = repo_root(given)
    registry = all_rules() if rules is None else ENGINE_RULES + rules
    check_skip_ids(skip, registry)
    found, builds = _builds(root, given, env, values, include_all)
    if not builds and not found.external:
        raise InputError(f"no Flux Kustomization or kustomization.yaml found in {given}")
    env = found.environment.name
    terraform, findings = _terraform(root, env, terraform_schema)
    store = SchemaStore(schema_location, k8s_version=found.environment.kubernetes_version)
    check = apiserver if isinstance(apiserver, ApiServerCheck) else \
        ApiServerCheck(apiserver, crds=crds)
    ctx = VerifyContext(root, builds, terraform=terraform, schemas=store, environment=env,
                        external=found.external, apiserver=check)
    findings += build_failures(builds) + external_sources(found.external) + remote(builds)
    try:
        checked, suppressed = run_rules(ctx, [r for r in registry if r not in ENGINE_RULES],
                                        skip)
    finally:
        if check is not apiserver:
            check.close()
    findings = [f for f in findings if _base_id(f.rule) not in skip and f.rule not in skip]
    findings += checked
    findings.sort(key=Finding.sort_key)
    skipped_whole = {s for s in skip if _sub_id(s) is None}
    summary = summarize(findings, ctx, rules=len(registry) - len(skipped_whole),
                        suppressed=suppressed, seconds=time.perf_counter() - started)
    summary.root, summary.environment = str(root), env
    summary.environments, summary.skipped = found.environment.known, len(found.skipped)
    summary.schema_location, summary.kubernetes_version = store.location, store.k8s_version
    summary.apiserver = check.status
    return VerifyReport(findings, summary, builds)


def check_skip_ids(skip: Iterable[str], registry: list[Rule]) -> None:
    """A mistyped `--skip` would silently check everything: refuse it instead."""
    by_id = {r.id: r for r in registry}
    unknown = sorted({_base_id(s) for s in skip} - set(by_id))
    if unknown:
        raise InputError(f"unknown rule id(s) for --skip: {', '.join(unknown)} "
                         "(see `mercury verify --list-rules`)")
    for entry in skip:
        sub = _sub_id(entry)
        rule = by_id[_base_id(entry)]
        if sub is not None and sub not in rule.subs:
            known = ", ".join(f"{rule.id}[{s}]" for s in sorted(rule.subs)) or "none"
            raise InputError(f"unknown sub-id for --skip: {entry} (sub-ids of {rule.id}: {known})")


def run_rules(ctx: VerifyContext, rules: list[Rule],
              skip: Sequence[str] = ()) -> tuple[list[Finding], int]:
    """Every rule's `check_object` on the objects of its kinds, then every `check_all`.

    `skip` holds rule ids (the whole rule does not run) and `id[sub]` entries (only those
    findings are dropped). Returns the findings and how many were suppressed by
    `mercury.io/skip` annotations or sub-id skips.
    """
    whole = {s for s in skip if _sub_id(s) is None}
    partial = {s for s in skip if _sub_id(s) is not None}
    active = [r for r in rules if r.id not in whole]
    per_kind: dict[str, list[Rule]] = {}
    any_kind: list[Rule] = []
    for rule in active:
        if type(rule).check_object is Rule.check_object:
            continue
        if rule.kinds:
            for kind in rule.kinds:
                per_kind.setdefault(kind, []).append(rule)
        else:
            any_kind.append(rule)
    out: list[Finding] = []
    annotated: dict[str, set[str]] = {}
    for obj in ctx.objects:
        obj_skip = _annotation_skips(obj)
        if obj_skip:
            annotated.setdefault(str(obj.ref), set()).update(obj_skip)
        for rule in (*any_kind, *per_kind.get(obj.kind, ())):
            if rule.id not in obj_skip:
                _collect(rule, rule.check_object, (obj, ctx), obj, out)
    for rule in active:
        if type(rule).check_all is not Rule.check_all:
            _collect(rule, rule.check_all, (ctx,), None, out)
    kept = [f for f in out if _base_id(f.rule) not in whole and f.rule not in partial
            and _base_id(f.rule) not in annotated.get(f.object, ())
            and f.rule not in annotated.get(f.object, ())]
    return kept, len(out) - len(kept)


def build_failures(builds: list[BuildResult]) -> list[Finding]:
    rule = ENGINE_RULES[0]
    out = []
    for build in builds:
        if build.error is None:
            continue
        ks = build.kustomization
        out.append(Finding(
            rule=rule.id, severity=rule.severity, object=str(ks.ref),
            message=f"Flux Kustomization {ks.name} (path ./{ks.path}) cannot be built: "
                    f"{build.error.strip()}",
            hint=rule.hint, file=ks.origin.file, line=ks.origin.line, kustomization=ks.name,
        ))
    return out


def remote(builds: list[BuildResult]) -> list[Finding]:
    rule = ENGINE_RULES[4]
    out = []
    for build in builds:
        if build.remote:
            ks = build.kustomization
            shown = ", ".join(build.remote[:3]) + (f" (+{len(build.remote) - 3} more)"
                                                  if len(build.remote) > 3 else "")
            out.append(Finding(
                rule=rule.id, severity=rule.severity, object=str(ks.ref),
                message=f"Flux Kustomization {ks.name} (path ./{ks.path}) uses "
                        f"{len(build.remote)} remote resource(s) mercury does not fetch: "
                        f"{shown}; the rest was built and checked",
                hint=rule.hint, file=ks.origin.file, line=ks.origin.line,
                kustomization=ks.name))
    return out


def summarize(findings: list[Finding], ctx: VerifyContext, *, rules: int, suppressed: int,
              seconds: float) -> Summary:
    by = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    return Summary(errors=by[Severity.ERROR], warnings=by[Severity.WARNING],
                   infos=by[Severity.INFO], suppressed=suppressed, objects=len(ctx.objects),
                   kustomizations=len(ctx.builds), rules=rules, seconds=seconds)


def _collect(rule: Rule, hook: Callable[..., Iterable[Finding]], args: tuple[Any, ...],
             obj: K8sObject | None, out: list[Finding]) -> None:
    """Run one hook; keep what it yielded before an exception, and report the exception."""
    try:
        for finding in hook(*args):
            out.append(finding)
    except Exception as exc:
        crash = ENGINE_RULES[1]
        out.append(Finding(
            rule=crash.id, severity=crash.severity, object=str(obj.ref) if obj else "",
            message=f"rule {rule.id} crashed: {type(exc).__name__}: {exc}",
            hint=crash.hint.replace("RULE", rule.id),
            file=obj.origin.file if obj else None, line=obj.origin.line if obj else None,
            kustomization=obj.kustomization if obj else None,
            tenant=(obj.namespace or None) if obj else None,
        ))


def _annotation_skips(obj: K8sObject) -> set[str]:
    value = obj.annotations.get(SKIP_ANNOTATION) if obj.metadata else None
    if not value:
        return set()
    return {part.strip() for part in str(value).split(",") if part.strip()}


def _base_id(rule_id: str) -> str:
    return rule_id.split("[", 1)[0]


def _sub_id(rule_id: str) -> str | None:
    """`sub` of `rule[sub]`, None for a bare rule id."""
    if "[" not in rule_id or not rule_id.endswith("]"):
        return None
    return rule_id.split("[", 1)[1][:-1]


def external_sources(kustomizations: list[FluxKustomization]) -> list[Finding]:
    rule = ENGINE_RULES[3]
    out = []
    for ks in kustomizations:
        kind, namespace, name = ks.source or ("", "", "")
        out.append(Finding(
            rule=rule.id, severity=rule.severity, object=str(ks.ref),
            message=f"Flux Kustomization {ks.name} takes its manifests from {kind} "
                    f"{namespace}/{name} (path ./{ks.path}), not from this repository: "
                    "not checked",
            hint=rule.hint, file=ks.origin.file, line=ks.origin.line, kustomization=ks.name))
    return out


def repo_root(path: Path) -> Path:
    """The repository `path` belongs to: `path` itself when its own declarations resolve
    there (Flux paths are relative to the source root), else the nearest parent that is
    a git root or holds platform.yaml."""
    from mercury.builder.inputs import has_kustomization
    from mercury.builder.scan import repo_index
    from mercury.platform import PLATFORM_FILE

    if (path / ".git").exists() or (path / PLATFORM_FILE).is_file():
        return path
    index = repo_index(path)
    docs = index.flux_kustomizations
    if not docs and (has_kustomization(path) or not index.by_file):
        return path  # a plain kustomize directory, or nothing at all

    def fits(base: Path) -> int:
        return sum(1 for d in docs if (base / str(((d.body or {}).get("spec") or {})
                                                  .get("path") or ".")).is_dir())

    best = fits(path) if docs else 0
    for parent in path.parents:
        if (parent / ".git").exists() or (parent / PLATFORM_FILE).is_file():
            return parent if not docs or fits(parent) > best else path
    return path


def _builds(root: Path, given: Path, env: str | None, values: Path | None,
            include_all: bool) -> tuple[Reconciled, list[BuildResult]]:
    """Every Flux Kustomization the roots reach; a plain kustomize directory is one
    pseudo-Kustomization."""
    from mercury.builder import build_path, load_values
    from mercury.builder.inputs import has_kustomization
    from mercury.builder.repo import reconcile_repo

    provided = load_values(values) if values is not None else None
    found = reconcile_repo(root, env=env, values=provided, include_all=include_all,
                           strict_platform=True)
    builds = found.results
    if not builds and not found.external and has_kustomization(given):
        builds = [build_path(given, values=provided, root=root)]
    return found, builds


def _terraform(root: Path, env: str | None,
               schema: str | None = None) -> tuple[TerraformFacts | None, list[Finding]]:
    """Parsed Terraform (None when the repository has none) and its unparseable files."""
    from mercury.builder import load_terraform, terraform_errors
    from mercury.verify.tfschema import locate

    files = load_terraform(root)
    errors = terraform_errors(root)
    if not files and not errors:
        return None, []
    rule = ENGINE_RULES[2]
    findings = [Finding(rule=rule.id, severity=rule.severity, object="", file=file,
                        message=f"{file}: {message}", hint=rule.hint)
                for file, message in sorted(errors.items())]
    return TerraformFacts(root=root, files=files, environment=env,
                          schema_location=locate(root, schema),
                          unparsed=tuple(sorted(errors))), findings
