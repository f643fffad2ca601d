"""Read platform.yaml into the model, turning every problem into one clear line.

ruamel's round-trip loader keeps line numbers, so a bad value is reported as
`platform.yaml:27: tenants.customer1.backup.schedule: ...`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from mercury.errors import InputError
from mercury.fsutil import read_exact
from mercury.platform.model import Platform
from mercury.yamlsafety import load_strict

PLATFORM_FILE = "platform.yaml"


def round_trip_yaml() -> YAML:
    """The YAML dumper/loader used to edit platform.yaml while keeping comments."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _line_of(doc: Any, path: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest node of `path` that exists in the ruamel document."""
    node, line = doc, None
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def parse_platform(text: str, *, source: str = PLATFORM_FILE) -> tuple[Platform, CommentedMap]:
    """Validate platform text; return the model and the round-trip document."""
    load_strict(text, source=source)  # alias bombs and duplicate keys, with both lines
    try:
        doc = round_trip_yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML: {problem}", file=source, line=line) from exc
    if not isinstance(doc, CommentedMap):
        raise InputError("expected a mapping with 'environments' and 'tenants'", file=source)
    try:
        platform = Platform.model_validate(_plain(doc))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        named = re.match(r"^([\w.-]+): (.*)$", message)
        if not loc and named:  # cross-checks name their own field
            field, message = named.group(1), named.group(2)
        extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        path = tuple(field.split(".")) if field != "(top level)" else ()
        raise InputError(f"{field}: {message}{extra}", file=source,
                         line=_line_of(doc, path)) from None
    return platform, doc


def _plain(node: Any) -> Any:
    """ruamel containers to plain dicts/lists (pydantic wants plain values)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_platform(root: Path) -> Platform:
    """Load `<root>/platform.yaml`, or fail with exit 2 and one line."""
    path = root / PLATFORM_FILE
    if not path.is_file():
        raise InputError(f"no {PLATFORM_FILE} here (run from the repository root or pass --repo)",
                         file=str(path))
    text = read_exact(path)
    data = load_strict(text, source=str(path))
    try:  # fast path: libyaml + validation (a 1,000-tenant file: 30 ms, not 2 s)
        return Platform.model_validate(data)
    except (ValidationError, ValueError, TypeError):
        pass  # slow path below gives the exact message and line
    platform, _ = parse_platform(text, source=str(path))
    return platform
