"""A small, honest evaluator for the HCL expressions mercury's Terraform uses.

python-hcl2 returns expressions as text (`"${merge({...}, {for ...})}"`). Offline we
know `var.*` (defaults / --env), `local.*` (evaluated from `locals` blocks, including
`yamldecode(file("${path.module}/../platform.yaml"))`) and nothing about resources or
data sources: those evaluate to `Unknown(expr)`, which keeps the exact reference text
(e.g. `azurerm_user_assigned_identity.backup["customer1"].client_id`) so a deterministic
sample value can be derived from it. Supported: literals, templates, references, index,
object/tuple literals, for-expressions with `if`, `== != && || !`, `?:`, and the
functions in `_FUNCS`; anything else raises HclEvalError (callers treat it as unknown).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercury.builder.hcl_parse import HclEvalError, Node, parse_value
from mercury.yamlsafety import load_strict

__all__ = ["HclEvalError", "Scope", "Sourced", "Unknown", "evaluate", "evaluate_hcl2",
           "source_text", "to_str"]


@dataclass(frozen=True)
class Unknown:
    """A value known only after `terraform apply`; `expr` is its reference text."""

    expr: str


class Sourced(dict[str, Any]):
    """An object value that remembers the expression text of each element."""

    def __init__(self, items: Mapping[str, Any], sources: Mapping[str, str]):
        super().__init__(items)
        self.sources = dict(sources)


# ---------------------------------------------------------------- evaluation


def to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise HclEvalError("cannot use a collection in a string template")
    return str(value)


def _merge(*maps: Any) -> Any:
    items: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise HclEvalError("merge() takes objects")
        items.update(m)
        sources.update(getattr(m, "sources", {}))
    return Sourced(items, sources)


_FUNCS: dict[str, Callable[..., Any]] = {
    "merge": _merge,
    "upper": lambda s: to_str(s).upper(),
    "lower": lambda s: to_str(s).lower(),
    "replace": lambda s, old, new: to_str(s).replace(to_str(old), to_str(new)),
    "lookup": lambda m, k, *d: m[k] if k in m else (d[0] if d else _missing(k)),
    "tostring": to_str,
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "length": len,
    "coalesce": lambda *a: next(x for x in a if x not in (None, "")),
    "jsondecode": json.loads,
    # libyaml (10x ruamel); like Terraform's, refuses duplicate keys; aliases bounded
    "yamldecode": lambda text: load_strict(text, source="yamldecode()"),
    "format": lambda f, *a: re.sub(r"%[sdv]", "{}", f).format(*a),
    "join": lambda sep, items: sep.join(to_str(x) for x in items),
    "contains": lambda coll, v: v in coll,
}


def _missing(key: Any) -> Any:
    raise HclEvalError(f"no key {key!r}")


@dataclass
class Scope:
    """What references resolve to: variables, lazily evaluated locals, path.*."""

    variables: dict[str, Any]
    locals_src: dict[str, Any]  # local name -> python-hcl2 value (text for expressions)
    module_dir: Path
    _locals: dict[str, Any] | None = None
    _busy: set[str] | None = None

    def local(self, name: str) -> Any:
        if self._locals is None:
            self._locals, self._busy = {}, set()
        assert self._busy is not None
        if name in self._locals:
            return self._locals[name]
        if name not in self.locals_src:
            raise HclEvalError(f"unknown local.{name}")
        if name in self._busy:
            raise HclEvalError(f"local.{name} refers to itself")
        self._busy.add(name)
        try:
            value = evaluate_hcl2(self.locals_src[name], self)
        finally:
            self._busy.discard(name)
        self._locals[name] = value
        return value


class _Ns:
    """A namespace root (var, local, path) whose attributes resolve through the scope."""

    def __init__(self, name: str, scope: Scope):
        self.name = name
        self.scope = scope

    def get(self, attr: str) -> Any:
        if self.name == "local":
            return self.scope.local(attr)
        if self.name == "var":
            return self.scope.variables.get(attr, Unknown(f"var.{attr}"))
        if self.name == "path" and attr in {"module", "root", "cwd"}:
            return str(self.scope.module_dir)
        return Unknown(f"{self.name}.{attr}")


def evaluate_hcl2(value: Any, scope: Scope) -> Any:
    """Evaluate one python-hcl2 attribute value (literal, list, dict or `${...}` text)."""
    if isinstance(value, str):
        return evaluate(parse_value(value), scope, {}) if "${" in value else value
    if isinstance(value, list):
        return [evaluate_hcl2(v, scope) for v in value]
    if isinstance(value, dict):
        items = {k: evaluate_hcl2(v, scope) for k, v in value.items()}
        sources = {k: source_text(v) for k, v in value.items() if isinstance(v, str) and "${" in v}
        return Sourced(items, sources)
    return value


def source_text(value: str) -> str:
    """The expression text of a python-hcl2 `${...}` value, without the wrapper."""
    node = parse_value(value)
    return str(node[1]) if node[0] != "tmpl" else f'"{value}"'


def evaluate(node: Node, scope: Scope, env: dict[str, Any]) -> Any:
    tag, text = node[0], node[1]
    if tag == "lit":
        return node[2]
    if tag == "ref":
        name = node[2]
        if name in env:
            return env[name]
        if name in {"var", "local", "path"}:
            return _Ns(name, scope)
        return Unknown(name)
    if tag == "attr":
        base = evaluate(node[2], scope, env)
        return _get(base, node[3], text)
    if tag == "index":
        base = evaluate(node[2], scope, env)
        key = evaluate(node[3], scope, env)
        if isinstance(base, Unknown):
            if isinstance(key, Unknown):
                return Unknown(text)
            return Unknown(f"{base.expr}[{json.dumps(key)}]")
        return _get(base, key, text)
    if tag == "tmpl":
        values = [p if isinstance(p, str) else evaluate(p, scope, env) for p in node[2]]
        if any(isinstance(v, Unknown) for v in values):
            return Unknown(text)
        return "".join(to_str(v) for v in values)
    if tag == "call":
        return _call(node, scope, env)
    if tag == "object":
        items: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key_node, value_node in node[2]:
            key = to_str(evaluate(key_node, scope, env))
            items[key] = evaluate(value_node, scope, env)
            if value_node[0] != "lit":
                sources[key] = value_node[1]
        return Sourced(items, sources)
    if tag == "tuple":
        return [evaluate(n, scope, env) for n in node[2]]
    if tag == "for":
        return _for(node, scope, env)
    if tag == "cond":
        cond = evaluate(node[2], scope, env)
        if isinstance(cond, Unknown):
            return Unknown(text)
        return evaluate(node[3] if cond else node[4], scope, env)
    if tag == "not":
        value = evaluate(node[2], scope, env)
        return Unknown(text) if isinstance(value, Unknown) else not value
    if tag == "binop":
        return _binop(node, scope, env)
    raise HclEvalError(f"cannot evaluate {text!r}")


def _get(base: Any, key: Any, text: str) -> Any:
    if isinstance(base, _Ns):
        return base.get(str(key))
    if isinstance(base, Unknown):
        return Unknown(f"{base.expr}.{key}")
    if isinstance(base, dict):
        if key not in base:
            raise HclEvalError(f"{text}: no key {key!r}")
        return base[key]
    if isinstance(base, list):
        try:
            return base[int(key)]
        except (ValueError, IndexError) as exc:
            raise HclEvalError(f"{text}: bad index {key!r}") from exc
    raise HclEvalError(f"{text}: cannot index {type(base).__name__}")


def _call(node: Node, scope: Scope, env: dict[str, Any]) -> Any:
    name, arg_nodes, text = node[2], node[3], node[1]
    if name == "try":
        for arg in arg_nodes:
            try:
                return evaluate(arg, scope, env)
            except HclEvalError:
                continue
        raise HclEvalError(f"{text}: no argument succeeded")
    args = [evaluate(a, scope, env) for a in arg_nodes]
    if name == "file":
        if isinstance(args[0], Unknown):
            return Unknown(text)
        path = Path(to_str(args[0]))
        path = path if path.is_absolute() else scope.module_dir / path
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HclEvalError(f"{text}: {exc.strerror}") from exc
    if any(isinstance(a, Unknown) for a in args) or name not in _FUNCS:
        return Unknown(text)
    try:
        return _FUNCS[name](*args)
    except HclEvalError:
        raise
    except Exception as exc:  # a Terraform function failing on its input
        raise HclEvalError(f"{text}: {exc}") from exc


def _for(node: Node, scope: Scope, env: dict[str, Any]) -> Any:
    _, text, names, coll_node, key_node, value_node, cond_node = node
    coll = evaluate(coll_node, scope, env)
    if isinstance(coll, Unknown):
        return Unknown(text)
    pairs = list(coll.items()) if isinstance(coll, dict) else list(enumerate(coll))
    items: dict[str, Any] = {}
    out: list[Any] = []
    sources: dict[str, str] = {}
    for k, v in pairs:
        inner = {**env, names[0]: v} if len(names) == 1 else {**env, names[0]: k, names[1]: v}
        if cond_node is not None:
            ok = evaluate(cond_node, scope, inner)
            if isinstance(ok, Unknown):
                return Unknown(text)
            if not ok:
                continue
        key = evaluate(key_node, scope, inner)
        if value_node is None:
            out.append(key)
            continue
        value = evaluate(value_node, scope, inner)
        items[to_str(key)] = value
        sources[to_str(key)] = value.expr if isinstance(value, Unknown) else value_node[1]
    return out if value_node is None else Sourced(items, sources)


def _binop(node: Node, scope: Scope, env: dict[str, Any]) -> Any:
    op = node[2]
    left = evaluate(node[3], scope, env)
    right = evaluate(node[4], scope, env)
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown(node[1])
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
        "&&": lambda a, b: bool(a and b), "||": lambda a, b: bool(a or b),
        "<": lambda a, b: a < b, ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
    }
    try:
        return ops[op](left, right)
    except TypeError as exc:
        raise HclEvalError(f"{node[1]}: {exc}") from exc
