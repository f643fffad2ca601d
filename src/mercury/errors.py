"""One error tree, so the CLI can map user mistakes and tool failures to exit codes.

InputError  -> exit 2 (the input cannot be used: bad platform.yaml, unknown tenant, ...)
ToolError   -> exit 2 (an external program failed on the user's input, e.g. kustomize)
ClusterError-> exit 2 (the cluster could not be reached or refused a request)
anything else escaping main() is a bug of mercury -> exit 3
"""

from __future__ import annotations

import re


class MercuryError(Exception):
    """Base of every error mercury reports as one line."""

    exit_code = 2


class InputError(MercuryError):
    """The user's input (file, flag, repository) cannot be used."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{where}{message}")


class ToolError(MercuryError):
    """An external program (kubectl, terraform, barman-cloud, ...) failed."""

    def __init__(self, command: str, returncode: int, stdout: str = "", stderr: str = ""):
        self.command = command
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"`{command}` exited {returncode}: {cause_of(stderr or stdout)}")


# Lines that name an error, strongest first: a PostgreSQL/Go severity beats a generic word
# ("aborting startup due to startup process failure" follows the FATAL that says why).
_CAUSES = (
    re.compile(r"\b(?:FATAL|PANIC|ERROR)\b|^(?:error|fatal error|panic):", re.IGNORECASE),
    re.compile(r"error|fatal|fail|panic|denied|refused|not found|no such|invalid|"
               r"timed out|out of memory|killed by|cannot|could not|unable", re.IGNORECASE),
)


def cause_of(output: str) -> str:
    """The line of a tool's output that says why it failed: the last line of the strongest
    kind naming an error (tools end with context after it), else the last line."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    if not lines:
        return "no output"
    for pattern in _CAUSES:
        causes = [ln for ln in lines if pattern.search(ln)]
        if causes:
            return causes[-1]
    return lines[-1]


class ClusterError(MercuryError):
    """The Kubernetes API could not be reached or refused a request.

    `reason` is the API's machine-readable Status reason (Forbidden, NotFound, ...) when
    the server answered, "Unreachable" when it did not, None otherwise: callers decide
    on it, never on the message's wording."""

    def __init__(self, message: str, *, reason: str | None = None):
        self.reason = reason
        super().__init__(message)


class Interrupted(BaseException):
    """A terminating signal (SIGTERM, SIGHUP, SIGINT) arrived: unwind, clean up, exit 128+N.

    A BaseException, so `except Exception` in library code cannot swallow it.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)
