"""The kustomize build cache: hits on unchanged inputs, misses on any input change."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from mercury.builder import kustomize as kustomize_mod
from mercury.builder.cache import BuildCache
from mercury.builder.kustomize import (
    kustomize_build,
    parse_documents,
    pop_origin,
    split_documents,
)
from mercury.errors import ToolError
from mercury.exec import resolve_tool

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: blue
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """base/ shared by overlays a/ and b/; a/ patches it with a file from patches/."""
    root = tmp_path / "tree"
    _write(root / "base/kustomization.yaml", "resources:\n  - configmap.yaml\n")
    _write(root / "base/configmap.yaml", CONFIGMAP)
    _write(root / "patches/colour.yaml",
           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  colour: red\n")
    _write(root / "a/kustomization.yaml",
           "namespace: a\nresources:\n  - ../base\npatches:\n  - path: ../patches/colour.yaml\n")
    _write(root / "b/kustomization.yaml", "namespace: b\nresources:\n  - ../base\n")
    _write(root / "unrelated/README.md", "notes\n")
    return root


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MERCURY_CACHE_DIR", str(directory))
    monkeypatch.delenv("MERCURY_NO_CACHE", raising=False)
    return directory


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The resource lists kustomize actually ran on."""
    seen: list[list[str]] = []
    real = kustomize_mod._run_wrapper

    def counting(where: Path, written: list[str], timeout: float, origins: bool = True,
                 overlay: kustomize_mod.Overlay | None = None) -> str:
        seen.append(written)
        return real(where, written, timeout, origins, overlay)

    monkeypatch.setattr(kustomize_mod, "_run_wrapper", counting)
    return seen


def _origins(stream: str, base: str) -> list[str | None]:
    return [pop_origin(body, base) for body in parse_documents(split_documents(stream))]


def test_second_build_is_a_hit_with_the_same_stream_and_origins(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    first, base1 = kustomize_build(tree / "a")
    second, base2 = kustomize_build(tree / "a")
    assert len(calls) == 1
    assert second == first and "colour: red" in second
    assert len(list(cache_dir.glob("*.yaml"))) == 1
    origins = _origins(second, base2)
    assert origins == _origins(first, base1)
    assert origins == [str(tree / "base/configmap.yaml")]


def test_a_different_temp_depth_is_a_different_key(
        tree: Path, cache_dir: Path, calls: list[list[str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    kustomize_build(tree / "a")
    deeper = tmp_path / "deeper/still"
    deeper.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deeper))
    stream, base = kustomize_build(tree / "a")
    assert len(calls) == 2 and calls[0] != calls[1]
    assert _origins(stream, base) == [str(tree / "base/configmap.yaml")]


def test_changing_the_shared_base_invalidates_every_overlay(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    kustomize_build(tree / "a")
    kustomize_build(tree / "b")
    (tree / "base/configmap.yaml").write_text(CONFIGMAP + "  size: large\n")
    a, _ = kustomize_build(tree / "a")
    b, _ = kustomize_build(tree / "b")
    assert len(calls) == 4
    assert "size: large" in a and "size: large" in b


def test_changing_a_patch_in_another_directory_invalidates(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    kustomize_build(tree / "a")
    kustomize_build(tree / "b")
    (tree / "patches/colour.yaml").write_text(
        (tree / "patches/colour.yaml").read_text().replace("red", "green"))
    a, _ = kustomize_build(tree / "a")
    b, _ = kustomize_build(tree / "b")  # b does not use the patch: still a hit
    assert len(calls) == 3
    assert "colour: green" in a and "colour: blue" in b


def test_an_unreferenced_file_does_not_invalidate(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    kustomize_build(tree / "a")
    (tree / "unrelated/README.md").write_text("other notes\n")
    (tree / "unrelated/extra.yaml").write_text(CONFIGMAP)
    kustomize_build(tree / "a")
    assert len(calls) == 1


def test_a_failed_build_is_not_cached(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    (tree / "a/kustomization.yaml").write_text("resources:\n  - ../missing\n")
    for _ in range(2):
        with pytest.raises(ToolError):
            kustomize_build(tree / "a")
    assert len(calls) == 2
    assert not list(cache_dir.glob("*.yaml"))


def test_no_cache_env_bypasses_the_cache(
        tree: Path, cache_dir: Path, calls: list[list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    kustomize_build(tree / "a")
    monkeypatch.setenv("MERCURY_NO_CACHE", "1")
    kustomize_build(tree / "a")
    kustomize_build(tree / "b")
    assert len(calls) == 3
    assert len(list(cache_dir.glob("*.yaml"))) == 1


def test_a_corrupt_entry_is_a_miss(
        tree: Path, cache_dir: Path, calls: list[list[str]]) -> None:
    first, _ = kustomize_build(tree / "a")
    (entry,) = cache_dir.glob("*.yaml")
    entry.write_text(entry.read_text()[:-20])  # truncated
    again, _ = kustomize_build(tree / "a")
    assert len(calls) == 2 and again == first


def test_fanned_out_build_reruns_only_the_changed_group(
        tree: Path, cache_dir: Path, calls: list[list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kustomize_mod, "FANOUT_MIN", 2)
    monkeypatch.setattr(kustomize_mod, "FANOUT_CHUNK", 1)
    _write(tree / "env/kustomization.yaml", "resources:\n  - ../a\n  - ../b\n")
    kustomize_build(tree / "env")
    assert len(calls) == 2
    (tree / "b/kustomization.yaml").write_text("namespace: bee\nresources:\n  - ../base\n")
    second, _ = kustomize_build(tree / "env")
    assert len(calls) == 3 and calls[-1][0].endswith("/b")
    assert "namespace: bee" in second and "namespace: a" in second


def test_remote_reference_is_uncacheable(tree: Path, cache_dir: Path) -> None:
    (tree / "a/kustomization.yaml").write_text(
        "resources:\n  - ../base\n  - https://github.com/example/repo//deploy?ref=v1\n")
    store = BuildCache(cache_dir, resolve_tool("kubectl"))
    assert store.key(["../a"], [tree / "a"]) is None
    assert store.key(["../b"], [tree / "b"]) is not None


def test_prune_removes_only_entries_unused_for_two_weeks(tmp_path: Path) -> None:
    store = BuildCache(tmp_path, resolve_tool("kubectl"))
    store.put("old", "kind: A\n")
    store.put("recent", "kind: B\n")
    month_ago = time.time() - 30 * 86400
    os.utime(tmp_path / "old.yaml", (month_ago, month_ago))
    os.utime(tmp_path / "recent.yaml", (month_ago, month_ago))
    assert store.get("recent") == "kind: B\n"  # a hit counts as a use
    assert store.prune() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recent.yaml"]
