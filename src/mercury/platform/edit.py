"""Add and remove tenants in platform.yaml TEXT, keeping every other byte as it was.

ruamel keeps comments, but it attaches a comment that sits between two tenants to the
key before it, so deleting a key through ruamel can drop or move other tenants'
comments. Here ruamel only *locates* things (line numbers); the edit itself splices
whole lines. That makes `remove_tenant(add_tenant(text, n, ...), n) == text` hold byte
for byte, and the result is re-parsed with the model so its rules still apply.

A tenant's block is: the comment lines directly above its key at the key's column
(unless they follow the `tenants:` line, then they describe the section), the key,
and every deeper-indented line after it up to its last data line, plus deeper comment
lines that directly follow that. Tenants are separated by one blank line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from mercury.errors import InputError
from mercury.platform.load import PLATFORM_FILE, parse_platform, round_trip_yaml
from mercury.platform.model import (
    Backup,
    Database,
    Platform,
    Tenant,
    tenant_name_problem,
)

# `tenants: {}` or an explicit null: the value the first added tenant replaces.
_EMPTY_VALUE = re.compile(r"^(\s*tenants:)[ \t]*(\{[ \t]*\}|~|null|Null|NULL)(?=\s|$)")
# What the first tenant replaced, when it was not `{}` (what removing the last tenant
# leaves): kept on the `tenants:` line so that add then remove gives the file back.
_WAS = "  # mercury tenant add: was "
_WAS_MARK = re.compile(r"  # mercury tenant add: was (absent|empty|~|null|Null|NULL)$")


@dataclass(frozen=True)
class _Lines:
    """The file as lines without endings, plus how to join them back."""

    lines: list[str]
    newline: str
    final_newline: bool

    @classmethod
    def of(cls, text: str) -> _Lines:
        newline = "\r\n" if "\r\n" in text else "\n"
        final = text.endswith(newline)
        body = text[: -len(newline)] if final else text
        return cls(body.split(newline) if body else [], newline, final)

    def text(self, lines: list[str]) -> str:
        return self.newline.join(lines) + (self.newline if self.final_newline and lines else "")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _block_span(lines: list[str], key_line: int, col: int, region_end: int,
                floor: int) -> tuple[int, int]:
    """(first, last) line index of the tenant whose key is at `key_line`, inclusive.

    `floor` is the first line a leading comment may start at (after the `tenants:` line
    for the first tenant, after the previous tenant's block otherwise).
    """
    last = key_line
    for i in range(key_line + 1, region_end):
        line = lines[i]
        if not _is_blank(line) and not _is_comment(line) and _indent(line) > col:
            last = i
    while (last + 1 < region_end and _is_comment(lines[last + 1])
           and _indent(lines[last + 1]) > col):
        last += 1
    first = key_line
    while (first - 1 >= floor and _is_comment(lines[first - 1])
           and _indent(lines[first - 1]) == col):
        first -= 1
    return first, last


@dataclass(frozen=True)
class _Layout:
    """Where the `tenants` section and each tenant block sit in the file."""

    tenants_line: int           # line of the `tenants:` key, or -1 when absent
    region_end: int             # first line after the section (next top-level key or EOF)
    col: int                    # column of tenant keys
    step: int                   # indentation step inside a tenant
    spans: dict[str, tuple[int, int]]


def _layout(doc: CommentedMap, lines: list[str]) -> _Layout:
    env_map = doc.get("environments")
    step = 2
    if isinstance(env_map, CommentedMap) and env_map:
        step = max(env_map.lc.key(next(iter(env_map)))[1] - doc.lc.key("environments")[1], 1)
    if "tenants" not in doc:
        return _Layout(-1, len(lines), step, step, {})
    keys = list(doc)
    tenants_line, top_col = doc.lc.key("tenants")
    after = keys[keys.index("tenants") + 1:]
    region_end = doc.lc.key(after[0])[0] if after else len(lines)
    tenants = doc["tenants"]
    if not isinstance(tenants, CommentedMap) or not tenants:
        return _Layout(tenants_line, region_end, top_col + step, step, {})
    if tenants.fa.flow_style():
        raise InputError("tenants: written in flow style ({...}); use block style to edit it "
                         "with mercury", file=PLATFORM_FILE, line=tenants_line + 1)
    names = list(tenants)
    starts = [tenants.lc.key(n)[0] for n in names]
    col = tenants.lc.key(names[0])[1]
    spans: dict[str, tuple[int, int]] = {}
    floor = tenants_line + 1
    for i, name in enumerate(names):
        end = starts[i + 1] if i + 1 < len(names) else region_end
        first, last = _block_span(lines, starts[i], col, end, floor)
        if first == floor and i == 0:
            first = starts[i]  # comments right under `tenants:` describe the section
        spans[name] = (first, last)
        floor = last + 1
    step = col - top_col if col > top_col else step
    return _Layout(tenants_line, region_end, col, step, spans)


_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _scalar(value: str) -> str:
    """`value` as a YAML scalar that every reader (ruamel, Terraform) takes as a string."""
    plain_ok = value and value.lower() not in _YAML11_WORDS and value == value.strip()
    if plain_ok:
        try:
            plain_ok = round_trip_yaml().load(f"k: {value}\n") == {"k": value}
        except Exception:  # anything ruamel cannot read plain gets quoted
            plain_ok = False
    return value if plain_ok else json.dumps(value)


def _tenant_lines(name: str, tenant: Tenant, col: int, step: int) -> list[str]:
    """The tenant written out in full, in the style of the bundled customer1 block."""
    a, b, c = " " * col, " " * (col + step), " " * (col + 2 * step)
    return [
        f"{a}{_scalar(name)}:",
        f"{b}environment: {_scalar(tenant.environment)}",
        f"{b}host: {_scalar(tenant.host)}",
        f"{b}database:",
        f"{c}instances: {tenant.database.instances}",
        f"{c}storage_size: {_scalar(tenant.database.storage_size)}",
        f"{b}backup:",
        f"{c}schedule: {json.dumps(tenant.backup.schedule)}",
        f"{c}retention: {_scalar(tenant.backup.retention)}",
        f"{c}auth: {_scalar(tenant.backup.auth)}",
    ]


def _new_tenant(platform: Platform, name: str, fields: dict[str, Any]) -> Tenant:
    """Validate the tenant on its own first, so errors name the field, not a line."""
    problem = tenant_name_problem(name)
    if problem:
        raise InputError(f"tenant name {problem}")
    if name in platform.tenants:
        raise InputError(f"tenant {name!r} already exists")
    env = fields["environment"]
    if env not in platform.environments:
        known = ", ".join(platform.environments)
        raise InputError(f"unknown environment {env!r} (known: {known})")
    try:
        return Tenant.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"tenant {name!r}: {field}: {message}") from None


def _reparse(text: str, what: str) -> Platform:
    """Validate edited text; errors lose the line number (it is not in the user's file)."""
    try:
        platform, _ = parse_platform(text)
    except InputError as exc:
        where = f"{exc.file}:{exc.line}: " if exc.line else f"{exc.file}: "
        raise InputError(f"{what}: {str(exc).removeprefix(where)}") from None
    return platform


def add_tenant(text: str, name: str, *, environment: str, host: str,
               instances: int = Database().instances,
               storage_size: str = Database().storage_size,
               schedule: str = Backup().schedule, retention: str = Backup().retention,
               auth: str = Backup().auth) -> str:
    """`text` with tenant `name` appended to `tenants:`, written out in full."""
    platform, doc = parse_platform(text)
    tenant = _new_tenant(platform, name, {
        "environment": environment, "host": host,
        "database": {"instances": instances, "storage_size": storage_size},
        "backup": {"schedule": schedule, "retention": retention, "auth": auth},
    })
    file = _Lines.of(text)
    lines = list(file.lines)
    layout = _layout(doc, lines)
    block = _tenant_lines(name, tenant, layout.col, layout.step)
    if layout.spans:
        at = max(last for _, last in layout.spans.values()) + 1
        lines[at:at] = ["", *block]
    elif layout.tenants_line >= 0:
        key_line = lines[layout.tenants_line]
        empty = _EMPTY_VALUE.match(key_line)
        if empty:
            was = "" if empty.group(2).startswith("{") else _WAS + empty.group(2)
            lines[layout.tenants_line] = _EMPTY_VALUE.sub(r"\1", key_line, count=1) + was
        elif isinstance(doc["tenants"], CommentedMap):
            raise InputError("tenants: cannot find its '{}' on the key's line",
                             file=PLATFORM_FILE, line=layout.tenants_line + 1)
        else:  # a bare `tenants:` (null)
            lines[layout.tenants_line] = key_line + _WAS + "empty"
        at = layout.tenants_line + 1
        lines[at:at] = block
    else:  # no `tenants:` key: append the section after one blank line
        lines.extend(["", "tenants:" + _WAS + "absent", *block])
    new_text = file.text(lines)
    result = _reparse(new_text, f"cannot add tenant {name!r}")
    if result.tenants.get(name) != tenant or {k: v for k, v in result.tenants.items()
                                              if k != name} != platform.tenants:
        raise RuntimeError(f"bug: adding tenant {name!r} changed other tenants")
    return new_text


def remove_tenant(text: str, name: str) -> str:
    """`text` without tenant `name`; the other tenants' lines and comments are untouched.

    Removing the last tenant leaves `tenants: {}`, or what the first tenant replaced
    when `tenant add` noted it on the `tenants:` line (no key, a bare key, `~`).
    """
    platform, doc = parse_platform(text)
    if name not in platform.tenants:
        known = ", ".join(sorted(platform.tenants)) or "none"
        raise InputError(f"unknown tenant {name!r} (known tenants: {known})")
    file = _Lines.of(text)
    lines = list(file.lines)
    layout = _layout(doc, lines)
    names = list(layout.spans)
    first, last = layout.spans[name]
    index = names.index(name)
    if index > 0 and _is_blank(lines[first - 1]):
        first -= 1  # the blank line that separated it from the previous tenant
    elif (index == 0 and len(names) > 1 and last + 1 < len(lines)
          and _is_blank(lines[last + 1])):
        last += 1
    del lines[first:last + 1]
    if len(names) == 1:
        _empty_section(lines, layout.tenants_line)
    new_text = file.text(lines)
    result = _reparse(new_text, f"cannot remove tenant {name!r}")
    expected = {k: v for k, v in platform.tenants.items() if k != name}
    if result.tenants != expected or result.environments != platform.environments:
        raise RuntimeError(f"bug: removing tenant {name!r} changed other parts of the file")
    return new_text


def _empty_section(lines: list[str], key: int) -> None:
    """Turn the `tenants:` line at `key`, now without tenants, back into an empty section."""
    key_line = lines[key]
    mark = _WAS_MARK.search(key_line)
    if mark is None:
        head, sep, rest = key_line.partition(":")
        lines[key] = f"{head}{sep} {{}}{rest}"
        return
    bare = key_line[: mark.start()]
    was = mark.group(1)
    if was == "absent":
        del lines[key]
        if key > 0 and _is_blank(lines[key - 1]):
            del lines[key - 1]  # the blank line `tenant add` put before the section
    elif was == "empty":
        lines[key] = bare
    else:
        head, sep, rest = bare.partition(":")
        lines[key] = f"{head}{sep} {was}{rest}"
