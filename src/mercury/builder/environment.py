"""Which environment a command works on: the one place that resolves `--env` and refuses
an unknown one.

Environments come from platform.yaml when the repository has one (this platform's
repositories), else from the cluster roots Flux reconciles (`clusters/<name>/...`), else
from Terraform's `var.environment` default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mercury.errors import InputError


@dataclass(frozen=True)
class EnvChoice:
    name: str | None  # None: the repository has no notion of environments
    known: tuple[str, ...] = ()
    kubernetes_version: str | None = None
    defaulted: bool = False  # not asked for: the first one was taken
    source: str = ""  # "platform.yaml", "clusters", "terraform" or ""
    notes: list[str] = field(default_factory=list, compare=False)


def choose_environment(requested: str | None, known: Sequence[str], default: str | None,
                       *, source: str) -> str | None:
    """`requested` if it is one of `known` (else exit 2 naming them), else `default`."""
    if requested is None:
        return default
    if known and requested not in known:
        raise InputError(f"unknown environment {requested!r} (known from {source}: "
                         f"{', '.join(known)})")
    return requested


def _platform_envs(root: Path, strict: bool) -> tuple[tuple[str, ...], dict[str, str]]:
    """(environment names, name -> Kubernetes version) of platform.yaml; `strict` refuses
    an invalid file (exit 2), otherwise only the names are read."""
    from mercury.platform import PLATFORM_FILE, load_platform

    if strict:
        platform = load_platform(root)
        return tuple(platform.environments), {
            n: e.cluster.kubernetes_version for n, e in platform.environments.items()}
    import yaml

    try:
        data = yaml.load((root / PLATFORM_FILE).read_bytes(), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError):
        data = None
    envs = data.get("environments") if isinstance(data, dict) else None
    return (tuple(str(e) for e in envs) if isinstance(envs, dict) else ()), {}


def resolve_environment(root: Path, requested: str | None, cluster_envs: Sequence[str] = (),
                        *, strict: bool = False) -> EnvChoice:
    """The environment for `root`: platform.yaml's, a cluster root's, or Terraform's."""
    from mercury.platform import PLATFORM_FILE

    if (root / PLATFORM_FILE).is_file():
        known, versions = _platform_envs(root, strict)
        if known:
            name = choose_environment(requested, known, known[0], source="platform.yaml")
            return EnvChoice(name, known, versions.get(name or ""), requested is None,
                             "platform.yaml")
    if cluster_envs:
        known = tuple(cluster_envs)
        name = choose_environment(requested, known, known[0], source="the cluster roots")
        return EnvChoice(name, known, None, requested is None, "clusters")
    from mercury.builder.terraform import default_environment

    tf_default = default_environment(root)
    if requested is not None and tf_default is None:
        raise InputError(f"unknown environment {requested!r} (this repository declares no "
                         "environments: no platform.yaml, no clusters/<name>/ root, no "
                         "var.environment)")
    name = requested or tf_default
    return EnvChoice(name, (name,) if name else (), None, requested is None,
                     "terraform" if name else "")
