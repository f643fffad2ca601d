"""`mercury` entry point: parse arguments, dispatch to one module per verb, map errors.

Exit codes: 0 ok, 1 an error-level finding (verify/plan) or drift (render --check),
2 unusable input (MercuryError, or the OS refusing a file), 3 a bug in mercury,
128+N killed by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP) after cleaning up.

Signal handlers are installed before anything heavy is imported, so even an interrupt
during start-up ends with one line, never a traceback. SIGTERM and SIGHUP raise
`Interrupted` where the program is, so every `finally` (rollback of a tenant edit,
killing a child's process group, removing a scratch directory) runs on the way out.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from mercury.errors import Interrupted

if TYPE_CHECKING:
    import argparse

_CAUGHT = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Further signals would interrupt the clean-up this one starts: ignore them.
    for sig in _CAUGHT:
        signal.signal(sig, signal.SIG_IGN)
    # Children run in their own process groups (the terminal's signal does not reach
    # them) and worker threads wait on them: stop them all before unwinding.
    from mercury.exec import kill_children

    kill_children()
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT, SIGTERM, SIGHUP unwind the stack (cleanup runs), then exit 128+N."""
    for sig in _CAUGHT:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup'ed: keep ignoring
            signal.signal(sig, _on_signal)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from mercury import __version__
    from mercury.cli import backup, build, doctor, plan, render, status, tenant, verify

    parser = argparse.ArgumentParser(
        prog="mercury",
        description="Create, check and operate the mercury n8n platform (GitOps on AKS).",
    )
    parser.add_argument("--version", action="version", version=f"mercury {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (plan, tenant, render, build, verify, status, doctor, backup):
        module.register(sub)
    return parser


def _interrupted(signum: int) -> int:
    print(f"mercury: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
    return 128 + signum


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except KeyboardInterrupt:  # SIGINT where no handler of ours is installed
        return _interrupted(signal.SIGINT)
    except Interrupted as exc:
        return _interrupted(exc.signum)
    except RecursionError:
        if debug:
            traceback.print_exc()
        print("mercury: error: input nested too deeply to read", file=sys.stderr)
        return 2
    except OSError as exc:  # the OS refused a file: read-only, immutable, not a directory
        if debug:
            traceback.print_exc()
        print(f"mercury: error: {_os_error(exc)}", file=sys.stderr)
        return 2


def _os_error(exc: OSError) -> str:
    where = exc.filename
    if exc.filename2:
        where = f"{exc.filename} -> {exc.filename2}"
    cause = exc.strerror or str(exc)
    return f"{where}: {cause}" if where else cause


def _run(argv: Sequence[str] | None) -> int:
    from mercury.errors import MercuryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MercuryError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mercury: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, Interrupted, RecursionError, OSError):
        raise
    except Exception:  # a bug in mercury, never a user error
        traceback.print_exc()
        print("mercury: internal error (a bug in mercury; please report it with the "
              "traceback above)", file=sys.stderr)
        return 3


def entrypoint() -> None:
    install_signal_handlers()
    code = main()
    sys.stdout.flush()
    sys.exit(code)
