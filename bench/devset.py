#!/usr/bin/env python3
"""`mercury verify` on a development set of Flux repositories already on disk.

Fetches nothing: pass the paths of clones (each a git work tree). For each it prints the
commit, objects, Kustomizations reached / skipped (declared, reached by no root), the
wall time, the error count and every error-level finding; `--json` writes the same
figures as one JSON document (to compare a run on main with a run on a branch).

    .venv/bin/python bench/devset.py /tmp/dev/flux2-multi-tenancy /tmp/dev/home-ops
    .venv/bin/python bench/devset.py --mercury /work/main/.venv/bin/mercury --json out.json DIR...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CRD_SCHEMAS = REPO.parent / "shared" / "schemas" / "crds"


def commit_of(path: Path) -> str:
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip()[:12] if out.returncode == 0 else "?"


def verify(mercury: str, path: Path, schemas: str | None, extra: list[str]) -> dict[str, Any]:
    argv = [mercury, "verify", str(path), "--format", "json", *extra]
    if schemas:
        argv += ["--schema-location", schemas]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_COLOR": "1"})
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {"repo": path.name, "commit": commit_of(path), "rc": proc.returncode,
                           "seconds": round(seconds, 2)}
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        row["failure"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return row
    summary = report["summary"]
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    row.update(objects=summary.get("objects"), reached=summary.get("kustomizations"),
               skipped=summary.get("skipped_kustomizations"),
               environment=summary.get("environment"),
               errors=len(errors), warnings=summary.get("warnings"), info=summary.get("info"),
               findings=[{k: f.get(k) for k in ("rule", "object", "file", "line", "message")}
                         for f in errors])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="clones of the repositories")
    parser.add_argument("--mercury", default=str(REPO / ".venv" / "bin" / "mercury"),
                        help="the mercury command to run (e.g. main's, for 'before')")
    parser.add_argument("--schema-location", default=str(CRD_SCHEMAS) if CRD_SCHEMAS.is_dir()
                        else None, help="CRD schemas (default: ../shared/schemas/crds)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--verify-arg", action="append", default=[],
                        help="extra argument for mercury verify (repeatable)")
    args = parser.parse_args(argv)
    rows = []
    for path in args.paths:
        row = verify(args.mercury, path.resolve(), args.schema_location, args.verify_arg)
        rows.append(row)
        if "failure" in row:
            print(f"{row['repo']} @{row['commit']}: rc {row['rc']} {row['failure']}")
            continue
        print(f"{row['repo']} @{row['commit']}: {row['objects']} objects, "
              f"{row['reached']} Kustomizations reached, {row['skipped']} skipped, "
              f"env {row['environment']}, {row['seconds']} s, {row['errors']} error(s), "
              f"{row['warnings']} warning(s), {row['info']} info")
        for f in row["findings"]:
            print(f"  {f['rule']} {f['object']} {f['file']}:{f['line']}: {f['message']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
