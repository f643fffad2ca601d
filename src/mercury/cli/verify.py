"""`mercury verify [PATH]`: build + schemas + cross-object rules + Terraform checks, offline.

Exit 0 clean (warnings allowed), 1 an error-level finding, 2 unusable input; a crash
is main()'s exit 3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mercury.errors import InputError

FORMATS = ("text", "json", "sarif")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify",
        help="check what Flux would apply: schemas, cross-object rules, Terraform",
        description="Build every Flux Kustomization the way Flux would, validate every "
                    "object against its JSON schema, and run every rule. Offline.",
    )
    parser.add_argument("path", nargs="?", type=Path, default=Path("."),
                        help="repository root, or a plain kustomize directory (default: .)")
    parser.add_argument("--env", "--cluster", dest="env",
                        help="environment: of platform.yaml, or a cluster root "
                             "(clusters/<name>/); default: the first")
    parser.add_argument("--all", dest="include_all", action="store_true",
                        help="also verify Flux Kustomizations that no root reaches")
    parser.add_argument("--format", default="text", metavar="|".join(FORMATS),
                        help="output format (default: text)")
    parser.add_argument("--schema-location", metavar="DIR_OR_URL",
                        help="CRD schemas: a directory or a kubeconform URL template "
                             "(default: $MERCURY_SCHEMA_LOCATION or the public CRDs catalog)")
    parser.add_argument("--terraform-schema", metavar="PATH",
                        help="provider schemas for terraform/ (`terraform providers schema "
                             "-json` output: a file or a directory of them; default: "
                             "$MERCURY_TERRAFORM_SCHEMA or ../shared/schemas/terraform)")
    parser.add_argument("--values", type=Path, metavar="FILE",
                        help="postBuild substitution values (YAML/JSON map, e.g. "
                             "`terraform output -json flux_substitutions`)")
    parser.add_argument("--apiserver", metavar="auto|off|DIR", default=None,
                        help="dry-run every object against a real, ephemeral kube-apiserver: "
                             "auto (when kube-apiserver and etcd are installed), off, or the "
                             "directory holding both (default: $MERCURY_APISERVER or auto)")
    parser.add_argument("--crds", action="append", type=Path, default=[], metavar="PATH",
                        help="CRD YAML (file or directory, repeatable) to install into that "
                             "server (default: $MERCURY_CRDS, os.pathsep-separated)")
    parser.add_argument("--skip", action="append", default=[], metavar="RULE_ID",
                        help="do not run this rule (repeatable, or comma-separated)")
    parser.add_argument("--list-rules", action="store_true",
                        help="print the rules (id, severity, summary) and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mercury.verify.apiserver_check import parse_setting
    from mercury.verify.engine import all_rules, verify_repo

    if args.list_rules:
        print(list_rules_text(all_rules()), end="")
        return 0
    if args.format not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {args.format!r}")
    if args.values is not None and not args.values.is_file():
        raise InputError(f"{args.values}: --values file not found")
    skip = [part.strip() for item in args.skip for part in item.split(",") if part.strip()]
    report = verify_repo(args.path, env=args.env, schema_location=args.schema_location,
                         values=args.values, skip=skip, include_all=args.include_all,
                         apiserver=parse_setting(args.apiserver), crds=args.crds,
                         terraform_schema=args.terraform_schema)
    from mercury.verify.report import REPORTERS, text

    if args.format == "text":
        output = text.render(report.findings, report.summary, color=sys.stdout.isatty())
    else:
        output = REPORTERS[args.format](report.findings, report.summary)
    sys.stdout.write(output)
    return report.exit_code


def list_rules_text(rules: list[Any]) -> str:
    width = max((len(r.id) for r in rules), default=10)
    lines = [f"{'RULE':<{width}}  {'SEVERITY':<8}  SUMMARY"]
    lines += [f"{r.id:<{width}}  {r.severity.value:<8}  {r.summary}" for r in rules]
    return "\n".join(lines) + "\n"
