"""The real API server as the judge of validity: dry-run apply every built object.

`verify --apiserver auto|off|DIR` starts an ephemeral etcd + kube-apiserver
(mercury.apiserver), installs the CRDs (`--crds`, plus those the build itself ships),
and server-side applies every built object with `dryRun=All` in Flux's order (layers by
`dependsOn`, CRDs and Namespaces first; those two are applied for real, since what
follows needs them to exist). Whatever the server refuses becomes a verdict on that
object; the rules in rules/apiserver.py turn verdicts into findings.

DIR is a directory holding `kube-apiserver` and `etcd`, not a kubeconfig: the check
creates namespaces and CRDs for real, which it must never do to a real cluster.

Cost: one request per object shape (see apiserver_order), in a thread pool with one
keep-alive connection per thread; start-up and CRD installation are paid once per run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from mercury.apiserver.launch import ApiServer, Binaries, find_binaries, launch, missing_reason
from mercury.apiserver.resources import Discovery, Resource, _crd_documents, wait_established
from mercury.builder.model import K8sObject
from mercury.errors import InputError, MercuryError
from mercury.verify.apiserver_order import (
    TEMPLATE_PATHS,
    enforce_level,
    layer_order,
    probe_pod,
    sendable,
    shape_groups,
    staged,
)
from mercury.verify.apiserver_verdict import (
    Verdict,
    cel_messages_of,
    rejections,
    strip_prefix,
    warning_verdicts,
)

if TYPE_CHECKING:
    from mercury.apiserver.client import Client, Response
    from mercury.verify.context import VerifyContext

AUTO, OFF = "auto", "off"
ENV_SETTING = "MERCURY_APISERVER"
ENV_CRDS = "MERCURY_CRDS"
CRD_KIND = "CustomResourceDefinition"
CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DISCOVERY_TIMEOUT = 15.0
# No controller-manager runs, so no ServiceAccount would exist for a Pod's admission
# to find; whether a referenced ServiceAccount exists is the reference checks' question.
# AKS allows privileged containers (Pod Security decides per namespace); kube-apiserver's
# own default refuses them everywhere.
JUDGE_ARGS = ("--disable-admission-plugins=ServiceAccount", "--allow-privileged=true")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Setting:
    """`--apiserver`: auto (when installed), off, or the directory holding both binaries."""

    mode: str
    binaries: Binaries | None = None

    def __str__(self) -> str:
        return str(self.binaries.kube_apiserver.parent) if self.binaries else self.mode


def parse_setting(value: str | None) -> Setting:
    """`auto`, `off`, or a directory with `kube-apiserver` and `etcd` in it."""
    value = (value or os.environ.get(ENV_SETTING) or AUTO).strip()
    if value in (AUTO, OFF):
        return Setting(value)
    directory = Path(value).expanduser()
    if not directory.is_dir():
        raise InputError(f"--apiserver {value}: not auto, off or a directory holding "
                         "kube-apiserver and etcd (a kubeconfig is refused: the check "
                         "creates namespaces and CRDs for real)")
    bins = Binaries(directory / "kube-apiserver", directory / "etcd")
    missing = [p.name for p in (bins.kube_apiserver, bins.etcd)
               if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        raise InputError(f"--apiserver {value}: no executable {' and '.join(missing)} there")
    return Setting("dir", bins)


def crd_sources(given: Sequence[Path] = ()) -> list[Path]:
    """`--crds` paths, else $MERCURY_CRDS (os.pathsep-separated), else the shared CRD
    definitions beside mercury's checkout (../shared/crds) when present, else none.

    Without CRDs every custom object would come back "not served" and go unjudged."""
    if given:
        return [Path(p) for p in given]
    env = os.environ.get(ENV_CRDS, "")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    beside = Path(__file__).resolve().parents[4] / "shared" / "crds"
    return [beside] if beside.is_dir() else []


def launch_judge(binaries: Binaries | None = None) -> ApiServer:
    """An ephemeral API server configured the way the check needs (caller stops it)."""
    return launch(binaries=binaries, extra_args=JUDGE_ARGS)


@dataclass
class Stats:
    """What the check cost, for the summary line and the benchmark."""

    objects: int = 0  # built objects given a verdict (own or their shape's)
    shapes: int = 0  # objects sent on behalf of their shape group
    requests: int = 0  # HTTP requests to the server (dry-runs, probes, CRDs, namespaces)
    unresolved: int = 0  # objects skipped: `${VAR}`s left unresolved
    unserved: int = 0  # objects whose kind the server does not serve
    crds: int = 0
    startup_seconds: float = 0.0
    crd_seconds: float = 0.0
    seconds: float = 0.0  # the whole check, start-up included
    version: str = ""


@dataclass
class Judgement:
    verdicts: list[tuple[K8sObject, Verdict]] = field(default_factory=list)


class ApiServerCheck:
    """One verify run's use of the API server: started on first use, stopped by close().

    Pass `server` to judge with a server the caller runs (tests share one); its CRDs are
    then the caller's business unless `crds` is given.
    """

    def __init__(self, setting: Setting | str | None = AUTO, *, crds: Sequence[Path] = (),
                 server: ApiServer | None = None, workers: int | None = None) -> None:
        self.setting = setting if isinstance(setting, Setting) else parse_setting(setting)
        self.crds = crd_sources(crds) if server is None else list(crds)
        self.server = server
        self._owned = False
        self.workers = workers or max(4, min(16, 4 * (os.cpu_count() or 1)))
        self.stats = Stats()
        self.status = "" if not self.enabled else "API server check not run (rules skipped)"
        self._result: Judgement | None = None

    @property
    def enabled(self) -> bool:
        return self.server is not None or self.setting.mode != OFF

    def verdicts(self, ctx: VerifyContext) -> list[tuple[K8sObject, Verdict]]:
        """Every verdict on the context's objects, computed once however many rules ask."""
        if self._result is None:
            self._result = self._judge(ctx)
        return self._result.verdicts

    def close(self) -> None:
        if self._owned and self.server is not None:
            self.server.stop()
            self.server = None
            self._owned = False

    def __enter__(self) -> ApiServerCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------

    def _start(self) -> ApiServer | None:
        if self.server is not None:
            return self.server
        if self.setting.mode == OFF:
            return None
        if self.setting.mode == AUTO:
            reason = missing_reason()
            if reason is not None:
                self.status = f"API server check skipped: {reason}"
                return None
        try:
            self.server = launch_judge(self.setting.binaries or find_binaries())
        except MercuryError as exc:
            if self.setting.mode != AUTO:
                raise
            self.status = f"API server check skipped: the server did not start ({exc})"
            return None
        self._owned = True
        self.stats.startup_seconds = self.server.startup_seconds
        return self.server

    def _judge(self, ctx: VerifyContext) -> Judgement:
        started = time.perf_counter()
        server = self._start()
        if server is None:
            return Judgement()
        run = _Run(server, self.workers, self.stats)
        try:
            if self.crds:
                crd_started = time.perf_counter()
                run.install_crds([(str(p), d) for p, d in _crd_documents(self.crds)])
                self.stats.crd_seconds = time.perf_counter() - crd_started
            result = run.judge(ctx)
        finally:
            run.close()
            # an idle kube-apiserver still aggregates OpenAPI for its CRDs: stop it now
            # rather than let it compete with the rules that run after this one
            self.close()
        self.stats.seconds = time.perf_counter() - started
        self.status = self._status_line()
        return result

    def _status_line(self) -> str:
        s = self.stats
        version = f" {s.version}" if s.version else ""
        extra = ""
        if s.unserved:
            extra += f", {s.unserved} of kinds it does not serve"
        if s.unresolved:
            extra += f", {s.unresolved} with unresolved ${{VAR}}s skipped"
        return (f"API server: {s.objects} objects judged by kube-apiserver{version} "
                f"({s.shapes} sent for their shape, {s.requests} requests{extra}); "
                f"start {s.startup_seconds:.1f}s, {s.crds} CRDs {s.crd_seconds:.1f}s, "
                f"total {s.seconds:.1f}s")


class _Run:
    """The state of one judgement: clients per thread, namespaces made, CEL messages."""

    def __init__(self, server: ApiServer, workers: int, stats: Stats) -> None:
        self.server = server
        self.stats = stats
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apiserver")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Client] = []
        self.client = self._client()
        self.discovery = Discovery(self.client)
        answer = self.client.get("/version")
        version = str(answer.body.get("gitVersion", "")) if answer.ok else ""
        stats.version = "" if "$Format" in version else version  # built without ldflags
        self.namespace_bodies: dict[str, dict[str, Any]] = {}
        self.namespace_labels: dict[str, dict[str, Any]] = {}
        self._namespaces_made: set[str] = set()
        self._cel: dict[tuple[str, str], set[str]] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.server.client()
            with self._lock:
                self._clients.append(client)
        return client

    def _request(self, call: Callable[[Client], Response]) -> Response:
        with self._lock:
            self.stats.requests += 1
        return call(self._client())

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        return list(self.pool.map(fn, items))

    # -- CRDs ----------------------------------------------------------------------------

    def install_crds(self, docs: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Apply the given CRDs for real (in parallel) and wait until they are served."""
        def apply(item: tuple[str, dict[str, Any]]) -> str:
            origin, doc = item
            name = str((doc.get("metadata") or {}).get("name", ""))
            answer = self._request(lambda c: c.apply(f"{CRD_API}/{quote(name)}", doc))
            if not answer.ok:
                message = answer.body.get("message", f"HTTP {answer.status}")
                raise InputError(f"{origin}: CRD {name} rejected by the API server: {message}")
            return name

        names = self._map(apply, list(docs))
        self._serve([d for _, d in docs], names)

    def _serve(self, docs: Iterable[dict[str, Any]], names: Sequence[str]) -> None:
        if not names:
            return
        wait_established(self.client, names)
        self.stats.crds += len(names)
        wanted = {(f"{(d.get('spec') or {}).get('group')}/{v.get('name')}",
                   str(((d.get("spec") or {}).get("names") or {}).get("kind")))
                  for d in docs for v in ((d.get("spec") or {}).get("versions") or [])
                  if isinstance(v, dict) and v.get("served", True)}
        deadline = time.monotonic() + DISCOVERY_TIMEOUT
        while True:
            self.discovery.refresh()
            if wanted <= self.discovery.kinds() or time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def _cel_messages(self, obj: K8sObject, resource: Resource) -> set[str]:
        """The CEL messages of a custom resource's CRD, read from the server once."""
        group, _, version = obj.api_version.rpartition("/")
        key = (group, obj.kind)
        if not group or "." not in group:
            return set()
        if key not in self._cel:
            answer = self._request(lambda c: c.get(f"{CRD_API}/{resource.plural}.{group}"))
            self._cel[key] = cel_messages_of(answer.body, version) if answer.ok else set()
        return self._cel[key]

    # -- namespaces ----------------------------------------------------------------------

    def _ensure_namespaces(self, names: Iterable[str]) -> None:
        """Make the namespaces objects are sent to (the built Namespace when there is one)."""
        todo = sorted({n for n in names if n} - self._namespaces_made)
        self._namespaces_made.update(todo)

        def make(name: str) -> None:
            body = self.namespace_bodies.get(name) or {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            self._request(lambda c: c.apply(f"/api/v1/namespaces/{quote(name, safe='')}", body))

        self._map(make, todo)

    # -- judging -------------------------------------------------------------------------

    def judge(self, ctx: VerifyContext) -> Judgement:
        builds = layer_order(ctx.builds)
        for build in builds:
            for obj in build.objects:
                if obj.kind == "Namespace" and obj.api_version == "v1" and obj.name:
                    self.namespace_bodies.setdefault(obj.name, obj.body)
                    self.namespace_labels.setdefault(obj.name, obj.metadata.get("labels") or {})
        out = Judgement()
        for build in builds:
            sendable = []
            for obj in build.objects:
                if str(obj.ref) in build.unresolved:
                    self.stats.unresolved += 1
                elif obj.api_version and obj.kind:
                    sendable.append(obj)
            definitions, classes, rest = staged(sendable)
            crds = [o for o in definitions if o.kind == CRD_KIND]
            namespaces = [o for o in definitions if o.kind != CRD_KIND]
            judged = self._judge_all(crds, real=True, group=False)
            refused = {id(o) for o, v in judged if v.outcome == "rejected"}
            self._serve([o.body for o in crds if id(o) not in refused],
                        [o.name for o in crds if id(o) not in refused])
            out.verdicts += judged
            out.verdicts += self._judge_all(namespaces, real=True)
            out.verdicts += self._judge_all(classes + rest, real=False)
        self.stats.unserved = sum(1 for _, v in out.verdicts if v.outcome == "unchecked")
        return out

    def _judge_all(self, objects: list[K8sObject], *, real: bool,
                   group: bool = True) -> list[tuple[K8sObject, Verdict]]:
        """Judge one representative per shape; members of a refused shape each alone."""
        if not objects:
            return []
        groups = shape_groups(objects, self.namespace_labels) if group else [[o] for o in objects]
        reps = [g[0] for g in groups]
        self.stats.objects += len(objects)
        self.stats.shapes += len(reps)
        self._ensure_namespaces(o.namespace for o in reps)
        first = self._map(lambda o: self._judge_one(o, real=real), reps)
        out: list[tuple[K8sObject, Verdict]] = []
        again: list[K8sObject] = []
        for members, verdicts in zip(groups, first, strict=True):
            out += [(members[0], v) for v in verdicts]
            if any(v.outcome == "rejected" for v in verdicts):
                again += members[1:]  # their own names may be what is refused
            else:
                out += [(m, v) for m in members[1:] for v in verdicts]
        if again:
            self._ensure_namespaces(o.namespace for o in again)
            for obj, verdicts in zip(again, self._map(lambda o: self._judge_one(o, real=real),
                                                      again), strict=True):
                out += [(obj, v) for v in verdicts]
        return out

    def _judge_one(self, obj: K8sObject, *, real: bool) -> list[Verdict]:
        resource = self.discovery.resource(obj.api_version, obj.kind)
        if resource is None:
            return [Verdict("unchecked", "not-served",
                            f"{obj.kind} ({obj.api_version}) is not served by the API server")]
        namespace = (obj.namespace or "default") if resource.namespaced else None
        answer = self._send(resource, sendable(obj), obj.name, namespace, real=real)
        if real and answer.ok and obj.kind == "Namespace" and obj.api_version == "v1":
            with self._lock:
                self._namespaces_made.add(obj.name)
        cel = self._cel_messages(obj, resource) if answer.status == 422 else set()
        verdicts = rejections(answer.status, answer.body, cel)
        verdicts += warning_verdicts(answer.warnings)
        if answer.ok and namespace and obj.kind in TEMPLATE_PATHS:
            verdicts = self._pod_security(obj, namespace, verdicts)
        return verdicts

    def _send(self, resource: Resource, body: dict[str, Any], name: str,
              namespace: str | None, *, real: bool) -> Response:
        if not name:  # let the server say what it says about a nameless object
            path = resource.path("", namespace).rstrip("/")
            query = "fieldManager=mercury" + ("" if real else "&dryRun=All")
            return self._request(lambda c: c.post(f"{path}?{query}", body))
        path = resource.path(quote(name, safe=""), quote(namespace, safe="") if namespace
                             else None)
        return self._request(lambda c: c.apply(path, body, dry_run=not real))

    def _pod_security(self, obj: K8sObject, namespace: str,
                      verdicts: list[Verdict]) -> list[Verdict]:
        """Dry-run a Pod of the workload's template where `enforce` is not privileged."""
        if enforce_level(self.namespace_labels.get(namespace)) == "privileged":
            return verdicts
        pod = probe_pod(obj)
        pods = self.discovery.resource("v1", "Pod")
        if pod is None or pods is None:
            return verdicts
        answer = self._send(pods, pod, str(pod["metadata"]["name"]), namespace, real=False)
        refused = [v for v in rejections(answer.status, answer.body)
                   if v.sub == "pod-security"]
        if not refused:
            return verdicts
        where = ".".join(TEMPLATE_PATHS[obj.kind])
        kept = [v for v in verdicts if v.sub != "pod-security"]  # the warn-level echo
        return kept + [Verdict("rejected", "pod-security",
                               f"{where}: its Pods would be refused: {strip_prefix(v.message)}")
                       for v in refused]


@contextlib.contextmanager
def judge_server(crds: Sequence[Path] = (),
                 binaries: Binaries | None = None) -> Iterator[ApiServer]:
    """A judge server with `crds` installed, for callers (tests) that share one."""
    server = launch_judge(binaries)
    try:
        if crds:
            run = _Run(server, 8, Stats())
            try:
                run.install_crds([(str(p), d) for p, d in _crd_documents(list(crds))])
            finally:
                run.close()
        yield server
    finally:
        server.stop()
