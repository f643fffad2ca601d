"""`mercury render [--check]`: write (or check) the overlays generated from platform.yaml."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mercury.cli.common import add_lock_arg, add_repo_arg, interrupted_note
from mercury.fsutil import repo_lock
from mercury.platform import PLATFORM_FILE, load_platform
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
    add_lock_arg(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = args.repo
    if not (root / PLATFORM_FILE).is_file():
        load_platform(root)  # raises the standard "no platform.yaml here" InputError
    # --check reads under a shared lock: never half of a concurrent `tenant add`.
    with repo_lock(root, "render", timeout=args.lock_timeout, shared=args.check) as left:
        if left and not args.check:
            print(interrupted_note(left), file=sys.stderr)
        report = render_repo(root, load_platform(root), check=args.check)
    if args.check:
        for rel in report.drifted:
            print(f"drifted: {rel}")
        if report.drifted:
            cause = f" ({left} was interrupted)" if left else ""
            print(f"{len(report.drifted)} generated file(s) out of date{cause}: "
                  "run `mercury render`")
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
