"""JSON schemas for built objects: Kubernetes core from `kubernetes-validate`, CRDs from a
kubeconform-style location (a directory or a URL template), cached on disk.

Why not call `kubernetes_validate.validate()`: it re-reads and re-parses a 1.5 MB
definitions file for every object. Here the files are read once, validators are kept
per (apiVersion, kind), and objects that differ only by their namespace and name are
validated once (see `_shape_key`): 1,000 tenants have ~15 distinct shapes, not 15,000.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from mercury.errors import InputError

DEFAULT_LOCATION = (
    "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/"
    "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
)
# When a location is a plain directory, files are laid out like the CRDs catalog.
DIR_TEMPLATE = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
DEFAULT_K8S_VERSION = "1.35"
FETCH_TIMEOUT = 10.0
MAX_MESSAGE = 240
UUID = re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")
NIL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class SchemaError:
    """One violation: where in the object (JSON path) and what is wrong."""

    path: str
    message: str


@dataclass(frozen=True)
class Validation:
    """The outcome for one object: errors, or why no schema could be found."""

    errors: tuple[SchemaError, ...] = ()
    missing: str | None = None  # reason, when no schema was found


@dataclass
class _Entry:
    validator: Any | None
    missing: str | None = None
    valid_shapes: set[bytes] = field(default_factory=set)


def default_cache_dir() -> Path:
    """~/.cache/mercury/schemas, honouring XDG_CACHE_HOME and MERCURY_CACHE_DIR."""
    if os.environ.get("MERCURY_CACHE_DIR"):
        return Path(os.environ["MERCURY_CACHE_DIR"]) / "schemas"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mercury" / "schemas"


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name)[:3])


def core_schema_dir(k8s_version: str | None = None) -> Path:
    """The newest strict schema set of kubernetes-validate not newer than `k8s_version`."""
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    dirs = sorted(
        (d for d in base.iterdir() if d.is_dir() and d.name.endswith("-local-strict")),
        key=lambda d: _version_key(d.name),
    )
    if not dirs:
        raise RuntimeError(f"kubernetes-validate ships no strict schemas under {base}")
    wanted = _version_key(k8s_version or DEFAULT_K8S_VERSION)[:2]
    fitting = [d for d in dirs if _version_key(d.name)[:2] <= wanted]
    return (fitting or dirs)[-1]


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def expand_template(template: str, api_version: str, kind: str) -> str:
    """Fill a kubeconform schema-location template for one (apiVersion, kind)."""
    group, version = _split_api_version(api_version)
    values = {
        "Group": group,
        "ResourceKind": kind.lower(),
        "ResourceAPIVersion": version,
        "Kind": kind,
        "KindSuffix": f"-{group.split('.')[0]}-{version}" if group else f"-{version}",
        "StrictSuffix": "-strict",
        "NormalizedKubernetesVersion": "master",
    }
    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)),
                  template)


class SchemaCache:
    """Downloaded schemas on disk with an index of URL -> file + sha256 (checked on read)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.index_path = directory / "index.json"
        self._index: dict[str, dict[str, Any]] | None = None

    def _load_index(self) -> dict[str, dict[str, Any]]:
        if self._index is None:
            try:
                self._index = json.loads(self.index_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._index = {}
        return self._index

    def get(self, url: str) -> bytes | None:
        entry = self._load_index().get(url)
        if not entry:
            return None
        data: bytes
        try:
            data = (self.directory / entry["file"]).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            return None  # corrupted or edited: fetch again
        return data

    def put(self, url: str, data: bytes) -> None:
        from mercury.fsutil import write_atomic

        digest = hashlib.sha256(data).hexdigest()
        name = hashlib.sha256(url.encode()).hexdigest()[:32] + ".json"
        write_atomic(self.directory / name, data.decode("utf-8"))
        index = self._load_index()
        index[url] = {"file": name, "sha256": digest, "fetched": int(time.time())}
        write_atomic(self.index_path, json.dumps(index, indent=1, sort_keys=True) + "\n")


class SchemaStore:
    """Finds, compiles and applies the schema of each object; one per verify run."""

    def __init__(
        self,
        location: str | None = None,
        *,
        k8s_version: str | None = None,
        cache_dir: Path | None = None,
    ):
        location = location or os.environ.get("MERCURY_SCHEMA_LOCATION") or DEFAULT_LOCATION
        if "{{" not in location and "://" not in location:
            location = str(Path(location).expanduser().resolve() / DIR_TEMPLATE)
        self.location = location
        self.core_dir = core_schema_dir(k8s_version)
        self.cache = SchemaCache(cache_dir or default_cache_dir())
        self._core_registry: Registry | None = None
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._offline_reason: str | None = None
        self.validated = 0  # objects actually run through jsonschema (not shape hits)

    @property
    def k8s_version(self) -> str:
        return ".".join(str(p) for p in _version_key(self.core_dir.name)[:2])

    def validate(self, body: dict[str, Any]) -> Validation:
        api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
        if not api_version or not kind:
            return Validation(missing="the object has no apiVersion or kind")
        entry = self._entries.get((api_version, kind))
        if entry is None:
            entry = self._entries[(api_version, kind)] = self._load(api_version, kind)
        if entry.validator is None:
            return Validation(missing=entry.missing)
        key = _shape_key(body)
        if key in entry.valid_shapes:
            return Validation()
        self.validated += 1
        found = entry.validator.iter_errors(body)
        errors = sorted(
            (SchemaError(e.json_path, _short(e.message)) for e in found),
            key=lambda e: (e.path, e.message),
        )
        if not errors:
            entry.valid_shapes.add(key)
        return Validation(errors=tuple(errors))

    # -- finding schemas ---------------------------------------------------------------

    def _load(self, api_version: str, kind: str) -> _Entry:
        core = self._core_schema(api_version, kind)
        if core is not None:
            return _Entry(jsonschema.Draft202012Validator(core, registry=self._registry()))
        schema, reason = self._crd_schema(api_version, kind)
        if schema is None:
            return _Entry(None, missing=reason)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        return _Entry(cls(schema))

    def _registry(self) -> Registry:
        if self._core_registry is None:
            defs = json.loads((self.core_dir / "_definitions.json").read_text(encoding="utf-8"))
            self._core_registry = Resource.from_contents(defs) @ Registry()
        return self._core_registry

    def _core_schema(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """kubernetes-validate's file for a built-in kind, if the group really matches."""
        group, version = _split_api_version(api_version)
        prefix = f"{group.split('.')[0]}-{version}" if group else version
        path = self.core_dir / f"{kind.lower()}-{prefix}.json"
        if not path.is_file():
            return None
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
            return None  # e.g. a CRD group whose first label collides with a core group
        return schema

    def _crd_schema(self, api_version: str, kind: str) -> tuple[dict[str, Any] | None, str]:
        ref = expand_template(self.location, api_version, kind)
        what = f"no schema for {kind} ({api_version})"
        if "://" not in ref:
            try:
                return json.loads(Path(ref).read_text(encoding="utf-8")), ""
            except FileNotFoundError:
                return None, f"{what} at {ref}"
            except (OSError, ValueError) as exc:
                return None, f"{what}: cannot read {ref}: {exc}"
        data = self.cache.get(ref) if not ref.startswith("file:") else None
        if data is None:
            data, reason = self._fetch(ref)
            if data is None:
                return None, f"{what}: {reason}"
        try:
            return json.loads(data), ""
        except ValueError as exc:
            return None, f"{what}: {ref} is not JSON ({exc})"

    def _fetch(self, url: str) -> tuple[bytes | None, str]:
        if self._offline_reason:
            return None, f"{url} not cached and offline ({self._offline_reason})"
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as resp:
                data: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            return None, f"{url} returned HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if not url.startswith("file:"):
                self._offline_reason = str(reason)  # don't wait on every kind
            return None, f"{url} not cached and cannot be fetched ({reason})"
        if not url.startswith("file:"):
            self.cache.put(url, data)
        return data, ""


def _mask(token: str) -> str:
    """Same length, same character classes: what a pattern or length check would see."""
    return re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", re.sub(r"[0-9]", "0", token)))


def _shape_key(body: dict[str, Any]) -> bytes:
    """The object with its namespace and name masked, hashed.

    Tenants differ mostly by namespace (and names derived from it); masking keeps length
    and character classes, so only a schema with an enum listing a tenant's name could
    tell two objects with the same key apart. Per-tenant UUIDs (client IDs) become the
    nil UUID: one well-formed UUID for another. Only valid shapes are remembered: an
    invalid object is always validated itself, so its errors are its own.
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        tokens = {str(meta.get(k) or "") for k in ("namespace", "name")}
        for token in sorted((t for t in tokens if len(t) >= 3), key=len, reverse=True):
            text = text.replace(token, _mask(token))
    text = UUID.sub(NIL_UUID, text)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def check_schema_location(location: str | None) -> None:
    """A local `--schema-location` must exist: a typo would silently check nothing."""
    if not location or "://" in location or "{{" in location:
        return
    if not Path(location).is_dir():
        raise InputError(f"--schema-location {location}: no such directory (give a "
                         "kubeconform-style directory or URL template)")
