"""Rule fixtures: multi-document YAML turned into a VerifyContext, plus expected findings.

A fixture is the objects of one or more Flux layers. Leading comment lines declare what the
rule under test must report, exactly:

    # expect: ingress-class Ingress/customer1/n8n
    # expect: backup-schedule[frequency] ScheduledBackup/customer1/db warning

A `mercury.test/v1 Layer` document starts a new Flux Kustomization (name, dependsOn,
substitute, substituteSource, substituteFrom); documents before the first Layer belong
to a layer called `apps`. A `mercury.test/v1 TerraformFacts` document sets
`substituteSources` as static analysis of terraform/ would, and `files` (file name ->
HCL text) gives the parsed Terraform the Terraform-reading rules look at. bench/catch_rate.py loads
the corpus cases the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import yaml

from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, Origin
from mercury.builder.substitute import is_disabled, substitute
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule

TEST_API = "mercury.test/v1"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_EXPECT = re.compile(r"^#\s*expect:\s*(\S+)\s+(\S+)(?:\s+(error|warning|info))?\s*$")


@dataclass(frozen=True, order=True)
class Expected:
    rule: str
    object: str
    severity: str | None = None


def expectations(text: str) -> list[Expected]:
    out = []
    for line in text.splitlines():
        match = _EXPECT.match(line.strip())
        if match:
            out.append(Expected(match[1], match[2], match[3]))
    return out


def _layer(doc: dict[str, Any]) -> FluxKustomization:
    meta = doc.get("metadata") or {}
    substitute = {str(k): str(v) for k, v in (doc.get("substitute") or {}).items()}
    return FluxKustomization(
        name=str(meta.get("name", "apps")),
        path=str(doc.get("path", ".")),
        depends_on=[str(d) for d in doc.get("dependsOn") or []],
        substitute=substitute,
        substitute_source={str(k): str(v) for k, v in (doc.get("substituteSource") or {}).items()},
        substitute_from=[(str(s["kind"]), str(s["name"]), bool(s.get("optional", False)))
                         for s in doc.get("substituteFrom") or []],
        has_post_build=bool(substitute or doc.get("substituteFrom") or doc.get("postBuild")),
        declared_in="terraform",
    )


def load_context(paths: Iterable[Path], root: Path | None = None) -> VerifyContext:
    """One VerifyContext from the documents of `paths` (read in order)."""
    docs = [(doc, path.name) for path in paths for doc in yaml.load_all(path.read_text(), _LOADER)]
    return build_context(docs, root)


def build_context(docs: Iterable[tuple[Any, str]], root: Path | None = None) -> VerifyContext:
    """One VerifyContext from (document, file name) pairs; see the module docstring."""
    builds: list[BuildResult] = []
    facts: TerraformFacts | None = None
    current: BuildResult | None = None
    for doc, file in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("apiVersion") == TEST_API and doc.get("kind") == "Layer":
            current = BuildResult(_layer(doc))
            builds.append(current)
            continue
        if doc.get("apiVersion") == TEST_API and doc.get("kind") == "TerraformFacts":
            facts = TerraformFacts(root=root or Path("."), substitute_sources={
                str(k): str(v) for k, v in (doc.get("substituteSources") or {}).items()})
            for name, text in (doc.get("files") or {}).items():
                facts.files[str(name)] = hcl2.loads(str(text))
                facts.cache.setdefault("texts", {})[str(name)] = str(text)
            continue
        if current is None:
            current = BuildResult(FluxKustomization(name="apps", path="."))
            builds.append(current)
        obj = K8sObject(doc, current.kustomization.name, Origin(file))
        current.objects.append(obj)
        _substitute(current, obj)
    return VerifyContext(root=root or Path("."), builds=builds, terraform=facts)


def _substitute(build: BuildResult, obj: K8sObject) -> None:
    """What the builder records: the `${VAR}`s a postBuild leaves unresolved (unknown
    when a substituteFrom object is not among the fixture's documents)."""
    ks = build.kustomization
    if not ks.has_post_build or ks.substitute_from or is_disabled(obj.body):
        return
    _, missing = substitute(yaml.safe_dump(obj.body), ks.substitute)
    if missing:
        build.unresolved[str(obj.ref)] = missing


def run_rule(rule: Rule, ctx: VerifyContext) -> list[Finding]:
    """Every finding of one rule: both hooks, as the engine calls them."""
    findings = list(rule.check_all(ctx))
    for obj in ctx.objects:
        findings.extend(rule.check_object(obj, ctx))
    return findings
