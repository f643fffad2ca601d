"""What rules see: every built object of every layer, indexed once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, ObjRef
from mercury.verify.schemas import SchemaStore, Validation

if TYPE_CHECKING:
    from mercury.verify.apiserver_check import ApiServerCheck


@dataclass
class TerraformFacts:
    """What static analysis of terraform/ learned (None fields: not found)."""

    root: Path
    # substitution variable -> Terraform expression (e.g. AZURE_TENANT_ID ->
    # "data.azurerm_client_config.current.tenant_id")
    substitute_sources: dict[str, str] = field(default_factory=dict)
    # parsed HCL per file (python-hcl2 dicts), repo-relative file name -> dict
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the environment being verified: `${var.environment}` in flux.tf paths
    environment: str | None = None
    # provider schemas (`terraform providers schema -json`): a file or directory, None: none
    schema_location: Path | None = None
    # .tf files python-hcl2 could not parse (not in `files`; hcl_syntax may still read them)
    unparsed: tuple[str, ...] = ()
    # what the Terraform rules computed once and share (evaluated layers, file texts)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class VerifyContext:
    root: Path
    builds: list[BuildResult]
    terraform: TerraformFacts | None = None
    objects: list[K8sObject] = field(default_factory=list)
    _by_kind: dict[str, list[K8sObject]] = field(default_factory=lambda: defaultdict(list))
    _by_ref: dict[ObjRef, K8sObject] = field(default_factory=dict)
    # JSON schemas (None: schema rules report nothing, e.g. in unit tests)
    schemas: SchemaStore | None = None
    environment: str | None = None
    # the real API server's dry-run (None: its rules report nothing)
    apiserver: ApiServerCheck | None = None
    _schema_results: dict[int, Validation] = field(default_factory=dict)
    # what rules compute once per run and share (e.g. scans of the manifest files)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    # Kustomizations of other sources (not built): what they apply is unknown
    external: list[FluxKustomization] = field(default_factory=list)

    def __post_init__(self) -> None:
        for build in self.builds:
            for obj in build.objects:
                self.objects.append(obj)
                self._by_kind[obj.kind].append(obj)
                self._by_ref.setdefault(obj.ref, obj)

    @property
    def kustomizations(self) -> list[FluxKustomization]:
        return [b.kustomization for b in self.builds]

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        """Objects of any of `kinds`, in build order."""
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        return [o for k in kinds for o in self._by_kind.get(k, [])]

    def get(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        return self._by_ref.get(ObjRef(kind, namespace, name))

    def schema_validation(self, obj: K8sObject) -> Validation | None:
        """The object's schema check, computed once however many rules ask."""
        if self.schemas is None:
            return None
        key = id(obj.body)
        result = self._schema_results.get(key)
        if result is None:
            result = self._schema_results[key] = self.schemas.validate(obj.body)
        return result

    def substitution(self, variable: str) -> str | None:
        """The value a variable had in any Kustomization's postBuild (first wins)."""
        for ks in self.kustomizations:
            if variable in ks.substitute:
                return ks.substitute[variable]
        return None
