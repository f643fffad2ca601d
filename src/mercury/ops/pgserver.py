"""A throw-away local PostgreSQL server: start, query, stop, always by its own PID.

The drill restores a backup into one of these, and the tests run their source
database with it. PostgreSQL refuses to run as root, so when mercury runs as root
every server program runs as the `postgres` user (`runuser -p`, which keeps the
environment: archive/restore commands need the storage credentials from it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mercury.errors import InputError, ToolError
from mercury.exec import Command

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                     "/usr/lib/postgresql/17/bin", "/usr/pgsql-15/bin")


def find_pg_bin(explicit: str | None = None) -> Path:
    """The directory holding pg_ctl/postgres (explicit, $PG_BIN, known places, PATH)."""
    if explicit is not None:  # asked for: that one or an error, never a silent fallback
        if (Path(explicit) / "pg_ctl").is_file():
            return Path(explicit)
        raise InputError(f"--pg-bin {explicit}: no pg_ctl there (give the directory of "
                         "PostgreSQL's server binaries, e.g. /usr/lib/postgresql/15/bin)")
    candidates = [os.environ.get("PG_BIN"), *PG_BIN_CANDIDATES]
    for cand in candidates:
        if cand and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise InputError("PostgreSQL server binaries (pg_ctl) not found; pass --pg-bin DIR")


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_user() -> str | None:
    """The user to run PostgreSQL as: `postgres` when we are root, else ourselves (None)."""
    return "postgres" if os.geteuid() == 0 else None


def as_server_user(argv: Sequence[str]) -> list[str]:
    """Prefix `argv` so it runs as the server user, keeping the environment."""
    user = server_user()
    if user is None:
        return list(argv)
    return ["runuser", "-p", "-u", user, "--", *argv]


def hand_to_server_user(path: Path) -> None:
    """Make `path` (recursively) owned by the server user; a no-op when not root."""
    user = server_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, entry.pw_uid, entry.pw_gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid,
                     follow_symlinks=False)


def run_as_server(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                  timeout: float = 600, cwd: Path | None = None) -> str:
    """Run a program as the server user; stdout on success, ToolError otherwise."""
    command = Command(as_server_user(argv), env=env, timeout=timeout, cwd=cwd)
    try:
        return command.run().stdout
    except ToolError as exc:  # name the program, not the whole runuser line
        raise ToolError(" ".join(argv[:2]), exc.returncode, exc.stdout, exc.stderr) from None


@dataclass
class PgServer:
    """One PostgreSQL data directory served on a private socket dir and a local port."""

    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    pid: int | None = None

    @property
    def log(self) -> Path:
        return self.log_file or self.socket_dir / "postgres.log"

    def start(self, options: Mapping[str, str] | None = None, *, wait: bool = True,
              timeout: float = 120) -> None:
        """Start the server with `-c name=value` options (they override the data dir's)."""
        opts = {"port": str(self.port), "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(self.socket_dir), **(options or {})}
        argv = [str(self.bin_dir / "pg_ctl"), "start", "-D", str(self.data_dir),
                "-l", str(self.log), "-w" if wait else "-W", "-t", str(int(timeout)),
                "-o", " ".join(f"-c {k}={_quote_opt(v)}" for k, v in opts.items())]
        try:
            run_as_server(argv, env=self.env, timeout=timeout + 30)
        except ToolError as exc:
            raise ToolError(exc.command, exc.returncode, exc.stdout,
                            f"{exc.stderr}\n{self.log_tail()}") from None
        self.pid = self.read_pid()

    def read_pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, mode: str = "fast") -> None:
        """Stop this server (by its data dir's PID); escalate to SIGKILL of that PID.

        The PID is read again: an interruption may come between `pg_ctl start -W` and
        the postmaster writing its PID file, and that server must not outlive us."""
        self.pid = self.pid or self.read_pid()
        if not self.running():
            return
        argv = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode,
                "-w", "-t", "60"]
        try:
            run_as_server(argv, env=self.env, timeout=90)
        except ToolError:
            if self.pid is not None and self.running():
                os.kill(self.pid, 9)
        self.pid = None

    def psql(self, sql: str, *, database: str = "postgres", timeout: float = 300) -> str:
        """Run SQL through psql on the socket; unaligned, tuples only, `|` separated."""
        argv = [str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t",
                "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres",
                "-d", database, "-c", sql]
        return run_as_server(argv, env=self.env, timeout=timeout).strip()

    def wait_until(self, sql: str, expected: str, *, timeout: float = 300,
                   database: str = "postgres") -> float:
        """Poll `sql` until it returns `expected`; seconds waited. Fails if the server died."""
        start = time.monotonic()
        while True:
            if not self.running():
                raise ToolError("postgres", 1, "", f"server stopped\n{self.log_tail()}")
            try:
                if self.psql(sql, database=database) == expected:
                    return time.monotonic() - start
            except ToolError:
                pass  # still starting up, or shutting down after a failed recovery
            if time.monotonic() - start > timeout:
                raise ToolError("postgres", 1, "",
                                f"timed out waiting for {sql!r}\n{self.log_tail()}")
            time.sleep(0.3)

    def log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _quote_opt(value: str) -> str:
    """Quote a `-c` value for pg_ctl's -o string (it is split by the shell-less parser)."""
    if value and all(c.isalnum() or c in "._/-:" for c in value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
