"""What a build produces: Flux Kustomizations and the objects they apply.

`ObjRef` is the identity every finding and report uses; its string form is the
command contract's `Kind/namespace/name` (`Kind/name` for cluster-scoped objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class ObjRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Origin:
    """Where something was declared: a file (repo-relative) and a 1-based line."""

    file: str | None = None
    line: int | None = None


@dataclass
class FluxKustomization:
    """A Flux Kustomization, declared in Terraform or as a YAML object in the repo."""

    name: str
    path: str  # repo-relative, without leading "./"
    namespace: str = "flux-system"
    depends_on: list[str] = field(default_factory=list)
    # postBuild.substitute: name -> value (values may be sample values offline)
    substitute: dict[str, str] = field(default_factory=dict)
    # postBuild.substitute: name -> the Terraform expression it came from, when known
    substitute_source: dict[str, str] = field(default_factory=dict)
    # postBuild.substituteFrom: (kind, name, optional)
    substitute_from: list[tuple[str, str, bool]] = field(default_factory=list)
    target_namespace: str | None = None
    prune: bool = False
    origin: Origin = field(default_factory=Origin)
    interval_seconds: int | None = None
    # "terraform" or "yaml": where the declaration was found
    declared_in: str = "yaml"
    # Flux substitutes only when postBuild is set (vars from substitute and/or substituteFrom)
    has_post_build: bool = False
    # spec.sourceRef (kind, namespace, name); None: the repository's own source
    source: tuple[str, str, str] | None = None
    # the Kustomization whose build applies this one (ObjRef string); None for a root
    parent: str | None = None
    # AKS flux configuration name: the extension names the object "<config>-<name>"
    config: str | None = None
    # Flux build fields kustomize-controller adds on top of the path's kustomization
    patches: list[Any] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    name_prefix: str | None = None
    name_suffix: str | None = None
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    images: list[Any] = field(default_factory=list)
    # variables substituteFrom provides without a known value (SOPS Secret keys)
    substitute_opaque: set[str] = field(default_factory=set)
    # False when a substituteFrom object was not found in the build (values unknown)
    substitute_complete: bool = True

    @property
    def object_name(self) -> str:
        """The object's name in the cluster (AKS prefixes the configuration name)."""
        return f"{self.config}-{self.name}" if self.config else self.name

    @property
    def ref(self) -> ObjRef:
        return ObjRef("Kustomization", self.namespace, self.name)


@dataclass
class K8sObject:
    """One built object: the raw dict plus where it came from."""

    body: dict[str, Any]
    kustomization: str  # name of the Flux Kustomization that applies it
    origin: Origin = field(default_factory=Origin)
    # Secret values wiped after the build ("data.KEY" / "stringData.KEY" that held a value)
    redacted: list[str] = field(default_factory=list)
    # SOPS-encrypted in git (its `sops:` metadata removed, as Flux decrypts before applying)
    encrypted: bool = False

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def ref(self) -> ObjRef:
        return ObjRef(self.kind, self.namespace, self.name)


@dataclass
class BuildResult:
    """The objects of one Flux Kustomization, or why it could not be built."""

    kustomization: FluxKustomization
    objects: list[K8sObject] = field(default_factory=list)
    error: str | None = None  # one readable line
    seconds: float = 0.0
    error_detail: str = ""  # the tool's full output, for --debug / reports
    # ObjRef string -> `${VAR}` names referenced but not set (left in place as `${VAR}`)
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # non-fatal: skipped files, fallbacks
    # remote references (URLs) kustomize would fetch; built and checked without them
    remote: list[str] = field(default_factory=list)
