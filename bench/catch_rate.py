"""Catch rate: which checker notices each injected mistake of tests/corpus/<case>/.

Each case directory holds a README.md (the mistake, and `expect: <rule-id>`) and the
manifest files that differ from tests/corpus/_base/ (the clean platform: the repository's
own build of controllers, configs and tenant customer1, with sample substitution values).
A case is materialized as the base files overlaid with the case's files, then given to
three checkers:

- mercury: the cross-object rules (ALL cross-object rules, in-process, on a context built
  the way tests/rules builds fixtures). Caught = a finding of the case's expected rule
  that the clean base does not have. Strict on purpose: another rule firing by accident
  does not count.
- schema-only: every object validated against its JSON schema (kubernetes-validate, strict,
  for core kinds; the CRD schemas of ../shared/schemas/crds with jsonschema). Caught = a
  schema error the base does not have.
- checkov: `checkov --framework kubernetes -d <case>` from its own venv (.tools/checkov-venv;
  it installs its own `hcl2` over python-hcl2, so never into .venv; created on first run).
  Caught = a failed check (check id + resource) the clean base does not fail. This counts
  any new failure, related or not, so it is generous to checkov; the new check ids are
  printed so the reader can judge whether they relate to the mistake.

Usage: .venv/bin/python bench/catch_rate.py [--no-checkov] [CASE...]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"
CRDS = REPO.parent / "shared" / "schemas" / "crds"
CHECKOV_VENV = REPO / ".tools" / "checkov-venv"
K8S_VERSION = "1.35"
sys.path.insert(0, str(REPO / "tests" / "rules"))

from rulefixture import TEST_API, build_context, run_rule  # noqa: E402

from mercury.verify.rules import CROSS_OBJECT_RULES  # noqa: E402


@dataclass
class Outcome:
    caught: bool
    detail: str


@dataclass
class Row:
    case: str
    expect: str
    results: dict[str, Outcome] = field(default_factory=dict)


def materialize(case: Path, dest: Path) -> Path:
    """Base files overlaid with the case's files (a file with no documents deletes one)."""
    dest.mkdir(parents=True)
    for src in sorted((CORPUS / "_base").glob("*.yaml")):
        shutil.copy(src, dest / src.name)
    if case.name != "_base":
        for src in sorted(case.glob("*.yaml")):
            shutil.copy(src, dest / src.name)
    return dest


def _docs(root: Path) -> list[tuple[dict[str, object], str]]:
    out = []
    for path in sorted(root.glob("*.yaml")):
        out += [(d, path.name) for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return out


def mercury_findings(root: Path) -> set[tuple[str, str]]:
    ctx = build_context(_docs(root))
    return {(f.rule, f.object) for rule in CROSS_OBJECT_RULES for f in run_rule(rule, ctx)}


_CRD_VALIDATORS: dict[Path, jsonschema.protocols.Validator] = {}


def schema_errors(root: Path) -> set[tuple[str, str]]:
    errors: set[tuple[str, str]] = set()
    for doc, _ in _docs(root):
        api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if api == TEST_API:
            continue
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        ref = f"{kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"  # type: ignore[union-attr]
        group, _, version = api.rpartition("/")
        if "." in group:
            path = CRDS / group / f"{kind.lower()}_{version}.json"
            if not path.is_file():
                continue  # no schema: a schema-only check cannot see this object
            validator = _CRD_VALIDATORS.get(path)
            if validator is None:
                schema = json.loads(path.read_text())
                validator = jsonschema.validators.validator_for(schema)(schema)
                _CRD_VALIDATORS[path] = validator
            for err in validator.iter_errors(doc):
                errors.add((ref, f"{'.'.join(map(str, err.absolute_path))}: {err.message}"))
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.add((ref, f"{'.'.join(map(str, err.path))}: {err.message}"))
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
            continue
    return errors


def checkov_bin() -> Path:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        print(f"creating {CHECKOV_VENV} (pip install checkov; a few minutes)...", file=sys.stderr)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "checkov"],
                       check=True)
    return exe


def checkov_failures(root: Path) -> set[tuple[str, str]]:
    proc = subprocess.run(
        [str(checkov_bin()), "--framework", "kubernetes", "-d", str(root), "-o", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {proc.returncode}: {proc.stderr[-500:]}")
    data = json.loads(proc.stdout or "{}")
    reports = data if isinstance(data, list) else [data]
    return {(c["check_id"], c["resource"]) for r in reports
            for c in r.get("results", {}).get("failed_checks", [])}


def _rule_matches(found: str, expected: str) -> bool:
    return found == expected or ("[" not in expected and found.split("[")[0] == expected)


def run(cases: list[Path], with_checkov: bool) -> tuple[list[Row], dict[str, int]]:
    checkers = {"mercury": mercury_findings, "schema-only": schema_errors}
    if with_checkov:
        checkers["checkov"] = checkov_failures
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = materialize(CORPUS / "_base", Path(tmp) / "_base")
        baseline = {name: fn(base_dir) for name, fn in checkers.items()}
        rows = []
        for case in cases:
            readme = (case / "README.md").read_text()
            match = re.search(r"^expect:\s*(\S+)", readme, re.M)
            row = Row(case.name, match[1] if match else "?")
            root = materialize(case, Path(tmp) / case.name)
            for name, fn in checkers.items():
                new = fn(root) - baseline[name]
                if name == "mercury":
                    hits = sorted(r for r, _ in new if _rule_matches(r, row.expect))
                    row.results[name] = Outcome(bool(hits), ",".join(dict.fromkeys(hits)))
                else:
                    ids = sorted({str(item[0]) if name == "checkov" else item[1][:60]
                                  for item in new})
                    row.results[name] = Outcome(bool(new), "; ".join(ids[:3]))
            rows.append(row)
    return rows, {name: len(found) for name, found in baseline.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--no-checkov", action="store_true", help="skip checkov")
    args = parser.parse_args(argv)
    names = args.cases or sorted(p.name for p in CORPUS.iterdir()
                                 if p.is_dir() and not p.name.startswith("_"))
    start = time.perf_counter()
    rows, noise = run([CORPUS / n for n in names], with_checkov=not args.no_checkov)
    checkers = list(rows[0].results) if rows else []
    print(f"{'case':28} {'expected rule':26} " + " ".join(f"{c:12}" for c in checkers))
    for row in rows:
        marks = " ".join(f"{'yes' if row.results[c].caught else '-':12}" for c in checkers)
        print(f"{row.case:28} {row.expect:26} {marks}")
    print("\ncaught: " + ", ".join(
        f"{c} {sum(r.results[c].caught for r in rows)}/{len(rows)}" for c in checkers))
    print("findings on the clean base (noise): " + ", ".join(f"{c} {n}" for c, n in noise.items()))
    print("\nwhat each checker reported new, per case:")
    for row in rows:
        for c in checkers:
            if row.results[c].detail:
                print(f"  {row.case} / {c}: {row.results[c].detail}")
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
