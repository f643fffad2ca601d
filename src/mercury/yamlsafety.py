"""Refuse YAML whose aliases expand beyond a sane size (the "billion laughs" attack).

A YAML parser shares an anchored node between its aliases, so parsing a bomb is cheap;
it is whatever walks the result (validation, kustomize, a JSON dump) that expands it
and then runs out of memory or time. Go's yaml (and so kustomize) has no bound that
stops this, so mercury checks every YAML file it reads or hands to a tool: the number
of nodes the document has once every alias is expanded, computed on the shared graph
in linear time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mercury.errors import InputError

# A 1,000-tenant platform.yaml has ~30,000 nodes and large manifests a few 100,000;
# a bomb of 9 levels of 10 aliases expands to 10^9.
MAX_EXPANDED_NODES = 5_000_000

_Composer = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def might_alias(text: str | bytes) -> bool:
    """Cheap pre-check: a document without both `&` and `*` cannot have aliases."""
    if isinstance(text, bytes):
        return b"&" in text and b"*" in text
    return "&" in text and "*" in text


def expanded_size(root: yaml.Node) -> int:
    """Nodes in `root` with every alias expanded (more than the bound for a recursive
    alias); iterative, each shared node counted once per use but visited once."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_EXPANDED_NODES:
                return sizes[key]
            continue
        if any(id(c) in open_nodes or c is node for c in children):
            return MAX_EXPANDED_NODES + 1  # an alias of its own ancestor: infinite
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_aliases(text: str | bytes, *, source: str | Path) -> None:
    """Raise InputError (exit 2) when `text`'s aliases expand beyond the bound.

    Syntax errors are left to the caller's own parser, which reports them with its line.
    """
    if not might_alias(text):
        return
    try:
        for doc in yaml.compose_all(text, Loader=_Composer):
            if doc is not None and expanded_size(doc) > MAX_EXPANDED_NODES:
                raise InputError(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} "
                                 "nodes (an alias bomb, or an alias of itself); not read",
                                 file=str(source))
    except yaml.YAMLError:
        return


class StrictLoader(_Composer):  # type: ignore[misc,valid-type]
    """libyaml's safe loader that refuses a key given twice in one mapping (PyYAML keeps
    the last silently; ruamel, Terraform's yamldecode and Go's yaml refuse it)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            try:
                key = self.construct_object(key_node, deep=True)
                hash(key)
            except (TypeError, yaml.YAMLError):
                continue  # the base class reports unhashable keys
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first})",
                    key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def load_strict(text: str | bytes, *, source: str | Path) -> Any:
    """Parse one YAML document the way mercury reads user files: aliases bounded,
    duplicate keys refused; any problem is an InputError naming the file and line."""
    check_aliases(text, source=source)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML: {problem}", file=str(source),
                         line=mark.line + 1 if mark is not None else None) from None
