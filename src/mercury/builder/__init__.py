"""`mercury build`: the objects Flux would apply, per Flux Kustomization.

Modules: reconcile (discovery from the roots), discover (the Kustomization view,
dependency order), terraform and
hcl_eval (offline evaluation of the flux configuration), samples (stand-in values),
kustomize (running kustomize), substitute (Flux postBuild semantics), scan (repo YAML
index for origins), values (--values files), repo (the orchestration).
"""

from mercury.builder.discover import order_by_dependencies
from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, ObjRef, Origin
from mercury.builder.repo import build_path, build_repo, discover_kustomizations
from mercury.builder.samples import sample_value
from mercury.builder.substitute import SubstitutionError, substitute
from mercury.builder.terraform import load_terraform, terraform_errors
from mercury.builder.values import load_values, normalize_values

__all__ = [
    "BuildResult", "FluxKustomization", "K8sObject", "ObjRef", "Origin", "SubstitutionError",
    "build_path", "build_repo", "discover_kustomizations", "load_terraform", "load_values",
    "normalize_values", "order_by_dependencies", "sample_value", "substitute",
    "terraform_errors",
]
