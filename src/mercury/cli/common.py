"""Arguments several verbs share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_repo_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("."),
                        help="repository root holding platform.yaml (default: .)")


def add_lock_arg(parser: argparse.ArgumentParser) -> None:
    """For verbs that write the repository: how long to wait for another writer."""
    from mercury.fsutil import DEFAULT_LOCK_TIMEOUT

    parser.add_argument("--lock-timeout", type=_seconds, default=DEFAULT_LOCK_TIMEOUT,
                        metavar="SECONDS",
                        help="wait this long for another mercury command writing the "
                             "repository (default: %(default)gs), then exit 2")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text!r}")
    return value


def seconds(text: str) -> float:
    """A duration flag of at least one second (`--timeout 0.5` cannot start anything)."""
    value = _seconds(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {text!r}")
    return value


def interrupted_note(left: str) -> str:
    """The line that tells the user a previous writer died mid-way (see fsutil.repo_lock)."""
    return (f"mercury: note: the previous writer ({left}) was interrupted before it "
            "finished; rendering from platform.yaml completes it")
