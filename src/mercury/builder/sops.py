"""SOPS as Flux meets it: encrypted manifests and encrypted generator files.

kustomize-controller decrypts a Secret carrying a `sops:` key before applying it, and
decrypts the files a `secretGenerator` reads (`.env`, JSON, YAML, INI) before kustomize
generates the Secret. Either way the values in git are ciphertext: no committed secret,
and the keys are known though the values are not.
"""

from __future__ import annotations

from pathlib import Path

from mercury.builder.inputs import load_kustomization

_MARKERS = ("ENC[AES256_GCM,", "sops_version", '"sops":', "sops:")


def is_encrypted_text(text: str) -> bool:
    return "ENC[AES256_GCM," in text and any(m in text for m in _MARKERS[1:])


def generated_from_sops(kfile: Path, name: str) -> bool:
    """The `secretGenerator` entry `name` of `kfile` reads SOPS-encrypted files."""
    if not kfile.is_file():
        return False
    for gen in load_kustomization(kfile).get("secretGenerator") or []:
        if not isinstance(gen, dict) or not name.startswith(str(gen.get("name", "\0"))):
            continue
        sources = [str(f).split("=", 1)[-1] for f in gen.get("files") or []]
        sources += [str(e) for e in gen.get("envs") or []]
        if gen.get("env"):
            sources.append(str(gen["env"]))
        for source in sources:
            try:
                text = (kfile.parent / source).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if is_encrypted_text(text):
                return True
    return False
