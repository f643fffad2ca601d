"""Terraform resource instances as `apply` would create them, evaluated offline.

A `for_each = local.tenants` resource is one instance per tenant of the environment;
its attributes are evaluated with the project's HCL evaluator (hcl_eval) with `each.key`
/ `each.value` / `count.index` bound, so `name = "${each.key}-db-user"` becomes
`customer1-db-user` and `azurerm_user_assigned_identity.backup[each.key].id` becomes a
reference to the instance `azurerm_user_assigned_identity.backup["customer1"]`.

The values a manifest can carry for an attribute (`client_id`, `name`) are: the
evaluated literal, the deterministic sample the offline build substitutes
(builder.samples), and whatever a Flux substitution variable fed by that exact
expression holds (real values from `--values`). `value_index` maps them back.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.hcl_eval import HclEvalError, Unknown, evaluate, evaluate_hcl2, to_str
from mercury.builder.hcl_parse import parse_value
from mercury.builder.samples import sample_value
from mercury.verify.context import VerifyContext
from mercury.verify.rules.terraform import terraform_scope
from mercury.verify.rules.tfresources import TfResource, resources

# data.TYPE.NAME[KEY].ATTR... with KEY already evaluated ("customer1" or 0)
REF = re.compile(r'^(?:data\.)?(azurerm_\w+)\.([\w-]+)(\[(?:"[^"]*"|\d+)\])?\.([\w\[\]."-]+)$')


@dataclass(frozen=True)
class TfRef:
    """A reference to an attribute of one resource instance."""

    address: str  # azurerm_x.name["key"]
    type: str
    attr: str


def parse_ref(value: Any) -> TfRef | None:
    """The instance an evaluated value refers to (an Unknown's expression), else None."""
    text = value.expr if isinstance(value, Unknown) else None
    if text is None and isinstance(value, str) and value.startswith("${"):
        text = value[2:-1].strip()
    if text is None:
        return None
    match = REF.match(text.strip())
    if not match:
        return None
    type_, name, index, attr = match.groups()
    return TfRef(f"{type_}.{name}{index or ''}", type_, attr)


@dataclass(eq=False)  # one object per instance: hashed by identity
class TfInstance:
    """One instance of a resource: its address, key and the resource block it comes from."""

    resource: TfResource
    key: str | int | None
    each_value: Any
    address: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def attr(self, ctx: VerifyContext, name: str) -> Any:
        """The attribute evaluated for this instance (Unknown when not knowable offline)."""
        if name not in self._cache:
            raw = self.resource.body.get(name)
            self._cache[name] = None if raw is None else self._evaluate(ctx, raw)
        return self._cache[name]

    def ref(self, ctx: VerifyContext, name: str) -> TfRef | None:
        return parse_ref(self.attr(ctx, name))

    def text(self, ctx: VerifyContext, name: str) -> str | None:
        """A string attribute when it is known offline."""
        value = self.attr(ctx, name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return to_str(value)
        return None

    def _evaluate(self, ctx: VerifyContext, raw: Any) -> Any:
        assert ctx.terraform is not None
        scope = terraform_scope(ctx.terraform)
        env = {"each": {"key": self.key, "value": self.each_value},
               "count": {"index": self.key}}
        try:
            if isinstance(raw, str) and "${" in raw:
                return evaluate(_parsed(raw), scope, env)
            if isinstance(raw, list):
                return [self._evaluate(ctx, item) for item in raw]
            if isinstance(raw, dict):  # a nested block (default_node_pool { ... })
                return {k: self._evaluate(ctx, v) for k, v in raw.items()}
            return raw
        except HclEvalError:
            return Unknown(str(raw))

    @property
    def file(self) -> str:
        return self.resource.file

    @property
    def line(self) -> int | None:
        return self.resource.line

    @property
    def where(self) -> str:
        return f"{self.address} ({self.file}:{self.line or '?'})"


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Any:
    """One parse per distinct expression: every instance of a resource shares its text."""
    return parse_value(text)


def address(type_: str, name: str, key: str | int | None) -> str:
    if key is None:
        return f"{type_}.{name}"
    return f"{type_}.{name}[{json.dumps(key)}]"


def _expand(res: TfResource, ctx: VerifyContext) -> list[TfInstance]:
    assert ctx.terraform is not None
    scope = terraform_scope(ctx.terraform)
    if "for_each" in res.body:
        try:
            value = evaluate_hcl2(res.body["for_each"], scope)
        except HclEvalError:
            return []  # unknown: leave unchecked rather than guess
        if isinstance(value, dict):
            pairs: Iterable[tuple[Any, Any]] = value.items()
        elif isinstance(value, (list, set, tuple)):
            pairs = ((v, v) for v in value)
        else:
            return []
        return [TfInstance(res, str(k), v, address(res.type, res.name, str(k))) for k, v in pairs]
    if "count" in res.body:
        try:
            count = evaluate_hcl2(res.body["count"], scope)
        except HclEvalError:
            return []
        if not isinstance(count, int) or isinstance(count, bool):
            return []
        return [TfInstance(res, i, None, address(res.type, res.name, i)) for i in range(count)]
    return [TfInstance(res, None, None, res.address)]


def instances(ctx: VerifyContext, *types: str) -> list[TfInstance]:
    """Every instance of the resources of `types`, evaluated once per run."""
    if ctx.terraform is None:
        return []
    cache: dict[str, list[TfInstance]] = ctx.terraform.cache.setdefault("instances", {})
    out: list[TfInstance] = []
    for type_ in types:
        if type_ not in cache:
            cache[type_] = [i for res in resources(ctx.terraform, type_) for i in _expand(res, ctx)]
        out.extend(cache[type_])
    return out


def instance_keys(res: TfResource, ctx: VerifyContext) -> list[str | int | None]:
    """The for_each keys (or count indexes) of one resource; [None] for a single one."""
    return [i.key for i in _expand(res, ctx)]


def value_index(ctx: VerifyContext, type_: str, attr: str) -> dict[str, TfInstance]:
    """value a manifest may hold -> the instance of `type_` whose `attr` it is."""
    assert ctx.terraform is not None
    cache: dict[tuple[str, str], dict[str, TfInstance]] = \
        ctx.terraform.cache.setdefault("value_index", {})
    if (type_, attr) not in cache:
        index: dict[str, TfInstance] = {}
        sources = _sources_by_expr(ctx)
        for inst in instances(ctx, type_):
            expr = f"{inst.address}.{attr}"
            index.setdefault(sample_value(expr), inst)
            literal = inst.text(ctx, attr)
            if literal:
                index.setdefault(literal, inst)
            for value in sources.get(expr, ()):
                index.setdefault(value, inst)
        cache[(type_, attr)] = index
    return cache[(type_, attr)]


def _sources_by_expr(ctx: VerifyContext) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for ks in ctx.kustomizations:
        for var, source in ks.substitute_source.items():
            if var in ks.substitute:
                out.setdefault(source.strip(), set()).add(str(ks.substitute[var]))
    return out
