"""`mercury build [PATH]`: print what Flux would apply, as one YAML stream.

Without PATH: every object of every Flux Kustomization of the environment, in
dependency order. With PATH: that directory alone (kustomize, then substitution only
with --values). A failed build prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from mercury.builder import BuildResult, build_path, build_repo, load_values
from mercury.cli.common import add_repo_arg
from mercury.errors import InputError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "build", help="print the manifests Flux would apply (kustomize + postBuild)",
        description=__doc__,
    )
    parser.add_argument("path", nargs="?", type=Path,
                        help="build this directory directly instead of the Flux Kustomizations")
    parser.add_argument("--kustomization", "-k", metavar="NAME",
                        help="only this Flux Kustomization")
    parser.add_argument("--env", help="environment (default: the first in platform.yaml)")
    parser.add_argument("--values", type=Path, metavar="FILE",
                        help="substitution values (YAML/JSON map or `terraform output -json`)")
    add_repo_arg(parser)
    parser.set_defaults(func=run)


class _Dumper(yaml.CSafeDumper):
    """Block style, keys in kustomize's order, no aliases for shared sub-objects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(results: list[BuildResult]) -> str:
    bodies = [obj.body for result in results for obj in result.objects]
    return yaml.dump_all(bodies, Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, explicit_start=True, width=1000)


def run(args: argparse.Namespace) -> int:
    values = load_values(args.values) if args.values else None
    if args.path is not None:
        if args.kustomization:
            raise InputError("--kustomization cannot be combined with a PATH")
        results = [build_path(args.path, values=values, root=args.repo)]
    else:
        results = build_repo(args.repo, env=args.env, only=args.kustomization, values=values)
        if not results:
            raise InputError(f"no Flux Kustomization found in {args.repo} (no "
                             "azurerm_kubernetes_flux_configuration in Terraform and no "
                             "kustomize.toolkit.fluxcd.io Kustomization in YAML)")
    failed = [r for r in results if r.error]
    for result in failed:
        print(f"mercury: error: {result.kustomization.name}: {result.error}", file=sys.stderr)
        if getattr(args, "debug", False) and result.error_detail:
            print(result.error_detail, file=sys.stderr)
    if failed:
        return 2
    sys.stdout.write(_dump(results))
    return 0
