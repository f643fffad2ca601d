"""Start a real etcd + kube-apiserver on 127.0.0.1 for one run, and always take it down.

Why a real server: it is the only complete judge of what a cluster accepts (name and
label syntax, defaulting then validation, CEL rules of CRDs, Pod Security admission).
Both processes run in their own session (process group) so that teardown can signal the
whole group; on Linux they also get SIGKILL if the launching thread dies, so a crashed
or killed mercury leaves nothing running. The temp dir (keys, etcd data) is removed on
every exit path.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mercury.apiserver.certs import Pki, make_client_cert, make_pki
from mercury.apiserver.client import Client
from mercury.apiserver.kubeconfig import write_kubeconfig
from mercury.errors import InputError, ToolError
from mercury.toolchain import HOW_TO_GET, find_tool

READY_TIMEOUT = 60.0
STOP_GRACE = 5.0
SERVICE_CIDR = "10.0.0.0/16"
_PR_SET_PDEATHSIG = 1


class ApiServerUnavailable(InputError):
    """The binaries are missing: callers in `auto` mode turn this into a skip reason."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path


def find_binaries() -> Binaries | None:
    """Both binaries via the toolchain locator, or None when either is missing."""
    apiserver, etcd = find_tool("kube-apiserver"), find_tool("etcd")
    if apiserver is None or etcd is None:
        return None
    return Binaries(apiserver, etcd)


def missing_reason() -> str | None:
    """Why the API server cannot run here, or None when it can."""
    missing = [name for name in ("kube-apiserver", "etcd") if find_tool(name) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed ({HOW_TO_GET})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the launching thread exits (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after a grace period; reap the leader."""
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of an exited leader
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_GRACE)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


@dataclass
class ApiServer:
    """A running ephemeral API server: where it listens and how to authenticate to it."""

    base_url: str
    kubeconfig: Path
    pki: Pki
    workdir: Path
    etcd_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    startup_seconds: float = 0.0
    _stopped: bool = False

    @property
    def ca_cert(self) -> Path:
        return self.pki.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.pki.client_cert

    @property
    def client_key(self) -> Path:
        return self.pki.client_key

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def client(self, *, cert: Path | None = None, key: Path | None = None) -> Client:
        """A new client (admin unless another cert/key pair is given); one per thread."""
        return Client(self.base_url, ca_cert=self.pki.ca_cert,
                      client_cert=cert or self.pki.client_cert,
                      client_key=key or self.pki.client_key)

    def user_credentials(self, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A client cert/key for another user (RBAC applies: only system:masters is admin)."""
        return make_client_cert(self.workdir, self.pki, user=user, groups=groups)

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for `user`, for least-privilege tests with kubectl or clients."""
        cert, key = self.user_credentials(user, groups)
        path = self.workdir / f"kubeconfig-{user.replace(':', '_')}"
        write_kubeconfig(path, server=self.base_url, ca_cert=self.pki.ca_cert,
                         client_cert=cert, client_key=key, user=user)
        return path

    def install_crds(self, directory: Path | Iterable[Path]) -> list[str]:
        """Create every CRD found in the YAML files and wait until each is Established."""
        from mercury.apiserver.resources import install_crds

        return install_crds(self, directory)

    def create_namespaces(self, namespaces: Mapping[str, Mapping[str, str]] | Iterable[str],
                          ) -> None:
        """Create namespaces (name → labels, or just names) for real, not as a dry-run."""
        from mercury.apiserver.resources import create_namespaces

        create_namespaces(self, namespaces)

    def alive(self) -> bool:
        return not self._stopped and all(p.poll() is None for p in self.processes.values())

    def stop(self) -> None:
        """Take both processes down (apiserver first) and delete the temp dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for name in ("kube-apiserver", "etcd"):
            proc = self.processes.get(name)
            if proc is not None:
                _stop_group(proc)
        shutil.rmtree(self.workdir, ignore_errors=True)
        _RUNNING.discard(self)

    def __hash__(self) -> int:
        return id(self)

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_RUNNING: set[ApiServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


def _scratch_root() -> str | None:
    """tmpfs when there is one: etcd fsyncs every write, which is slow on disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread()
            else None,
        )


def launch(*, binaries: Binaries | None = None, ready_timeout: float = READY_TIMEOUT,
           extra_args: Iterable[str] = ()) -> ApiServer:
    """Start etcd + kube-apiserver and return once /readyz answers ok. Caller must stop()."""
    bins = binaries or find_binaries()
    if bins is None:
        raise ApiServerUnavailable(f"the API server check needs {missing_reason()}")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mercury-apiserver-", dir=_scratch_root()))
    server: ApiServer | None = None
    try:
        pki = make_pki(workdir)
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        base_url = f"https://127.0.0.1:{api_port}"
        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(kubeconfig, server=base_url, ca_cert=pki.ca_cert,
                         client_cert=pki.client_cert, client_key=pki.client_key,
                         user="mercury-admin")
        server = ApiServer(base_url=base_url, kubeconfig=kubeconfig, pki=pki,
                           workdir=workdir, etcd_url=etcd_url)
        _RUNNING.add(server)
        peer = f"http://127.0.0.1:{peer_port}"
        server.processes["etcd"] = _spawn([
            str(bins.etcd), "--name", "mercury", "--data-dir", str(workdir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"mercury={peer}", "--log-level", "warn",
        ], workdir / "etcd.log")
        server.processes["kube-apiserver"] = _spawn([
            str(bins.kube_apiserver),
            "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(api_port),
            "--cert-dir", str(workdir / "apiserver-certs"),
            "--tls-cert-file", str(pki.serving_cert),
            "--tls-private-key-file", str(pki.serving_key),
            "--client-ca-file", str(pki.ca_cert),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(pki.sa_pub),
            "--service-account-signing-key-file", str(pki.sa_key),
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--authorization-mode", "RBAC",
            "--endpoint-reconciler-type", "none",
            "--profiling=false",
            *extra_args,
        ], workdir / "kube-apiserver.log")
        _wait_ready(server, ready_timeout)
        server.startup_seconds = time.monotonic() - started
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _wait_ready(server: ApiServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = server.client()
    last = "no answer"
    try:
        while time.monotonic() < deadline:
            for name, proc in server.processes.items():
                if proc.poll() is not None:
                    log = _tail(server.workdir / f"{name}.log")
                    raise ToolError(name, proc.returncode, "", f"exited during start-up:\n{log}")
            try:
                answer = client.get("/readyz")
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
            except (OSError, ValueError) as exc:
                last = str(exc)
                client.close()
            time.sleep(0.1)
    finally:
        client.close()
    log = _tail(server.workdir / "kube-apiserver.log")
    raise ToolError("kube-apiserver", -1, "", f"not ready after {timeout:.0f}s ({last}):\n{log}")


@contextlib.contextmanager
def start_apiserver(*, crds: Path | Iterable[Path] | None = None,
                    namespaces: Mapping[str, Mapping[str, str]] | Iterable[str] = (),
                    binaries: Binaries | None = None,
                    ready_timeout: float = READY_TIMEOUT) -> Iterator[ApiServer]:
    """`with start_apiserver(crds=..., namespaces=...) as api:` ready, CRDs Established."""
    server = launch(binaries=binaries, ready_timeout=ready_timeout)
    try:
        if crds is not None:
            server.install_crds(crds)
        if namespaces:
            server.create_namespaces(namespaces)
        yield server
    finally:
        server.stop()


EphemeralApiServer = start_apiserver
