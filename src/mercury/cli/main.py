"""`mercury` entry point: parse arguments, dispatch to one module per verb, map errors.

Exit codes: 0 ok, 1 an error-level finding (verify/plan) or drift (render --check),
2 unusable input (MercuryError), 3 a bug in mercury, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from mercury import __version__
from mercury.cli import backup, build, doctor, plan, render, status, tenant, verify
from mercury.errors import MercuryError

COMMANDS = (plan, tenant, render, build, verify, status, doctor, backup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mercury",
        description="Create, check and operate the mercury n8n platform (GitOps on AKS).",
    )
    parser.add_argument("--version", action="version", version=f"mercury {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MercuryError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mercury: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug in mercury, never a user error
        traceback.print_exc()
        print("mercury: internal error (a bug in mercury; please report it with the "
              "traceback above)", file=sys.stderr)
        return 3


def entrypoint() -> None:
    sys.exit(main())
