"""Arguments several verbs share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_repo_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("."),
                        help="repository root holding platform.yaml (default: .)")
