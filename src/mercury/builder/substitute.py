"""Flux postBuild variable substitution, with the semantics of fluxcd/pkg/envsubst.

Like kustomize-controller, it runs on each object's serialized YAML (so keys and
scalar types are affected too: `replicas: ${N}` becomes an integer). Checked against
fluxcd/pkg envsubst/parse (scan.go, parse.go) and kustomize/kustomize_varsub.go:

- `${VAR}`; `${VAR:=d}` `${VAR:-d}` `${VAR=d}` (and `:+ :?`, which act as defaults
  too); `${#VAR}`; casing `${VAR^} ${VAR^^} ${VAR,} ${VAR,,}`; substring
  `${VAR:1:2}`; `${VAR/a/b}` `${VAR//a/b}` `${VAR/#a/b}` `${VAR/%a/b}`;
  `${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}` (glob patterns).
- `$VAR` without braces is NOT substituted (the fork only opens on `${`).
- `$$` is an escape for `$` everywhere, so `$${VAR}` yields the literal `${VAR}`.
- `${VAR-d}` (dash without colon), `${}` and `${ VAR}` are parse errors: Flux fails
  the whole Kustomization ("variable substitution failed").
- Objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`
  are left alone. Values lose their newlines, as in Flux.
- Strict mode is off in Flux by default: an unset `${VAR}` becomes "". mercury instead
  leaves `${VAR}` in place (so verify can point at it) and reports the name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_DEFAULT_OPS = {":=", ":-", "=", ":+", ":?"}


class SubstitutionError(ValueError):
    """What makes Flux fail a Kustomization's postBuild (bad syntax, bad var name)."""


@dataclass
class _State:
    vars: Mapping[str, str]
    keep_unresolved: bool
    unresolved: list[str] = field(default_factory=list)


def check_var_names(names: Mapping[str, str]) -> None:
    for name in names:
        if not VAR_NAME.match(name):
            raise SubstitutionError(
                f"'{name}' var name is invalid, must match '{VAR_NAME.pattern}'")


def substitute(text: str, variables: Mapping[str, str], *,
               keep_unresolved: bool = True) -> tuple[str, list[str]]:
    """`text` with variables substituted, and the names referenced but unset."""
    if "$" not in text:
        return text, []
    clean = {k: v.replace("\n", "") for k, v in variables.items()}
    state = _State(clean, keep_unresolved)
    out, _ = _parse_text(text, 0, state, stop_at_brace=False)
    return out, sorted(set(state.unresolved))


def _parse_text(text: str, i: int, st: _State, *, stop_at_brace: bool) -> tuple[str, int]:
    """Literal text with `$$` escapes and `${...}` expansions, up to `}` when nested."""
    out: list[str] = []
    n = len(text)
    while i < n:
        j = text.find("$", i)
        if stop_at_brace:
            k = text.find("}", i)
            if k != -1 and (j == -1 or k < j):
                out.append(_unescape_param(text[i:k]))
                return "".join(out), k
        if j == -1:
            if stop_at_brace:
                raise SubstitutionError("missing closing brace")
            out.append(text[i:])
            return "".join(out), n
        chunk = text[i:j]
        out.append(_unescape_param(chunk) if stop_at_brace else chunk)
        if text.startswith("${", j):
            value, i = _parse_func(text, j, st)
            out.append(value)
        elif text.startswith("$$", j):
            out.append("$")
            i = j + 2
        else:
            out.append("$")
            i = j + 1
    if stop_at_brace:
        raise SubstitutionError("missing closing brace")
    return "".join(out), n


def _unescape_param(s: str) -> str:
    """Inside `${...}` parameters the fork also unescapes `\\\\` and `\\/`."""
    return s.replace("\\\\", "\\").replace("\\/", "/") if "\\" in s else s


_NAME = re.compile(r"[^\W]+", re.UNICODE)


def _parse_func(text: str, start: int, st: _State) -> tuple[str, int]:
    """Expand the `${...}` at `start`; returns (replacement, index after `}`)."""
    i = start + 2
    length_of = text.startswith("#", i)
    if length_of:
        i += 1
    m = _NAME.match(text, i)
    if not m:
        raise SubstitutionError(f"unable to parse variable name at {text[start:start + 20]!r}")
    name, i = m.group(), m.end()
    if length_of:
        if not text.startswith("}", i):
            raise SubstitutionError("bad substitution")
        return _value(name, "", text[start:i + 1], st, lambda v: str(len(v))), i + 1
    op, i = _operator(text, i)
    args: list[str] = []
    if op in _DEFAULT_OPS or op in {"#", "##", "%", "%%"}:
        arg, i = _parse_text(text, i, st, stop_at_brace=True)
        args.append(arg)
    elif op in {"/", "//", "/#", "/%"}:
        close = text.find("}", i)
        if close == -1:
            raise SubstitutionError("missing closing brace")
        pattern, _, repl = text[i:close].partition("/")
        args = [_unescape_param(pattern), _unescape_param(repl)]
        i = close
    elif op == ":":
        close = text.find("}", i)
        if close == -1:
            raise SubstitutionError("missing closing brace")
        args = text[i:close].split(":", 1)
        i = close
    if not text.startswith("}", i):
        raise SubstitutionError(f"missing closing brace in {text[start:i + 1]!r}")
    original = text[start:i + 1]
    return _value(name, op, original, st, lambda v: _apply(op, v, args)), i + 1


def _operator(text: str, i: int) -> tuple[str, int]:
    for op in (":=", ":-", ":+", ":?", "//", "/#", "/%", "##", "%%", ",,", "^^",
               "=", "/", "#", "%", ",", "^", ":"):
        if text.startswith(op, i):
            return op, i + len(op)
    if text.startswith("}", i):
        return "", i
    raise SubstitutionError(f"missing closing brace near {text[max(0, i - 20):i + 10]!r}")


def _value(name: str, op: str, original: str, st: _State, fn: object) -> str:
    assert callable(fn)
    if name not in st.vars and op not in _DEFAULT_OPS:
        st.unresolved.append(name)
        if st.keep_unresolved:
            return original
    return str(fn(st.vars.get(name, "")))


def _apply(op: str, value: str, args: list[str]) -> str:
    if op in _DEFAULT_OPS:
        return value if value else "".join(args)
    if op == "":
        return value
    if op in {",", ",,", "^", "^^"}:
        if not value:
            return value
        return {",": value[:1].lower() + value[1:], ",,": value.lower(),
                "^": value[:1].upper() + value[1:], "^^": value.upper()}[op]
    if op == ":":
        return _substr(value, args)
    if op in {"/", "//", "/#", "/%"}:
        old, new = args
        if op == "/":
            return value.replace(old, new, 1)
        if op == "//":
            return value.replace(old, new)
        if op == "/#":
            return new + value[len(old):] if value.startswith(old) else value
        return value[: len(value) - len(old)] + new if value.endswith(old) else value
    return _trim(op, value, args[0])


def _substr(value: str, args: list[str]) -> str:
    try:
        pos = int(args[0])
    except ValueError:
        return value
    if pos < 0:
        pos = max(len(value) + pos, 0)
    if len(args) == 1:
        return value[pos:]
    try:
        length = int(args[1])
    except ValueError:
        return value
    if length < 0:
        end = len(value) + length
        return value[pos:end] if end >= pos else ""
    return value[pos:pos + length]


def _trim(op: str, value: str, pattern: str) -> str:
    """`#`/`##` strip the shortest/longest non-empty prefix matching a glob; `%`/`%%`
    the same for a suffix."""
    sizes = range(1, len(value) + 1)
    order = sizes if op in {"#", "%"} else reversed(sizes)
    for k in order:
        if op in {"#", "##"} and fnmatch.fnmatchcase(value[:k], pattern):
            return value[k:]
        if op in {"%", "%%"} and fnmatch.fnmatchcase(value[len(value) - k:], pattern):
            return value[: len(value) - k]
    return value


def is_disabled(body: Mapping[str, object]) -> bool:
    """True when the object opts out of substitution (label or annotation)."""
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return False
    for key in ("labels", "annotations"):
        values = meta.get(key)
        if isinstance(values, dict) and values.get(DISABLE_KEY) == "disabled":
            return True
    return False
