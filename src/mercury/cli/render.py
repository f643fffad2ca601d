"""`mercury render [--check]`: write (or check) the overlays generated from platform.yaml."""

from __future__ import annotations

import argparse
from typing import Any

from mercury.cli.common import add_repo_arg
from mercury.platform import load_platform
from mercury.render import render_repo


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "render", help="generate apps/<env>/<tenant>/ from platform.yaml",
        description="Generate the kustomize overlays of every environment and tenant from "
                    "platform.yaml. With --check, write nothing and exit 1 when a generated "
                    "file is missing, different or stale.")
    parser.add_argument("--check", action="store_true",
                        help="report drift instead of writing (exit 1 when drifted)")
    add_repo_arg(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = args.repo
    report = render_repo(root, load_platform(root), check=args.check)
    if args.check:
        for rel in report.drifted:
            print(f"drifted: {rel}")
        if report.drifted:
            print(f"{len(report.drifted)} generated file(s) out of date: run `mercury render`")
            return 1
        print("render: generated files are up to date")
        return 0
    for rel in report.written:
        print(f"wrote: {rel}")
    for rel in report.removed:
        print(f"removed: {rel}")
    if report.clean:
        print("render: generated files are up to date")
    return 0
