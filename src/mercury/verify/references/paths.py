"""Field paths with wildcards: `spec.volumes[*].csi.volumeAttributes.secretProviderClass`.

A path is dot-separated keys; `[*]` iterates a list, `["a.b/c"]` is a key with dots (an
annotation), `*` as a whole segment iterates a mapping's values. Walking yields every
concrete match with its printable path and the chain of enclosing mappings, so a row can
read sibling fields (`optional`, `kind`, `namespace`) and resolvers can see the container
or pod spec around a field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

_TOKEN = re.compile(r'\["([^"]+)"\]|\[\*\]|\.|([^.\[]+)')
LIST = object()  # token: every item of a list
VALUES = object()  # token: every value of a mapping


@dataclass(frozen=True)
class Match:
    """One concrete field: its value, the mapping holding it, where it is."""

    value: Any
    parent: dict[str, Any]
    path: str
    ancestors: tuple[dict[str, Any], ...]  # enclosing mappings, outermost first


@cache
def tokens(path: str) -> tuple[object, ...]:
    out: list[object] = []
    for m in _TOKEN.finditer(path):
        if m.group(0) == ".":
            continue
        if m.group(0) == "[*]":
            out.append(LIST)
        elif m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) == "*":
            out.append(VALUES)
        else:
            out.append(m.group(2))
    return tuple(out)


def _show(key: str) -> str:
    return f'["{key}"]' if "." in key or "/" in key else f".{key}"


class Trie:
    """Many paths compiled into one tree, so an object is walked once for all its rows."""

    def __init__(self) -> None:
        self.children: dict[object, Trie] = {}
        self.ends: list[int] = []  # indices of the paths that end here

    def add(self, path: str, index: int) -> None:
        node = self
        for step in tokens(path):
            node = node.children.setdefault(step, Trie())
        node.ends.append(index)


@functools.lru_cache(maxsize=512)
def _single(path: str) -> Trie:
    trie = Trie()
    trie.add(path, 0)
    return trie


def walk(data: dict[str, Any], path: str) -> Iterator[Match]:
    """Every value at `path` inside `data` (missing steps yield nothing): `walk_all` over
    a one-path trie."""
    for _, match in walk_all(data, _single(path)):
        yield match


def walk_all(data: dict[str, Any], trie: Trie) -> Iterator[tuple[int, Match]]:
    """(path index, match) for every path of `trie` inside `data`."""

    def go(node: Any, t: Trie, where: str,
           chain: tuple[dict[str, Any], ...]) -> Iterator[tuple[int, Match]]:
        for step, child in t.children.items():
            if step is LIST:
                if isinstance(node, list):
                    for n, item in enumerate(node):
                        yield from go(item, child, f"{where}[{n}]", chain)
                continue
            if not isinstance(node, dict):
                return
            if step is VALUES:
                items = list(node.items())
            else:
                assert isinstance(step, str)
                if step not in node:
                    continue
                items = [(step, node[step])]
            for key, value in items:
                here = f"{where}{_show(str(key))}"
                inner = (*chain, node)
                for index in child.ends:
                    yield index, Match(value, node, here.lstrip("."), inner)
                if child.children:
                    yield from go(value, child, here, inner)

    yield from go(data, trie, "", ())
