"""terraform-schema: terraform/ against the providers' real schemas, with file:line.

`terraform validate` needs the providers' binaries (`terraform init`, a download);
their schemas (`terraform providers schema -json`) are plain JSON and say the same
about structure: which arguments and blocks a resource takes, which are required,
how blocks nest and how often, which are computed-only or deprecated. Positions come
from mercury.builder.hcl_syntax; values are not evaluated (allowed values and
ConflictsWith live in the providers' code, not in the schema).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar

from mercury.builder.hcl_syntax import Attribute, Block, Body, HclSyntaxError, parse_body
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.tfresources import source
from mercury.verify.tfschema import ENV_VAR, ProviderSchemas, load, source_address

Schema = dict[str, Any]

# Terraform's own arguments and blocks of each top-level block kind (not the provider's)
META_ARGS = {
    "resource": frozenset({"count", "for_each", "depends_on", "provider"}),
    "data": frozenset({"count", "for_each", "depends_on", "provider"}),
    "ephemeral": frozenset({"count", "for_each", "depends_on", "provider"}),
    "provider": frozenset({"alias", "version"}),
}
_CONDITION: Schema = {"nesting_mode": "list", "block": {"attributes": {
    "condition": {"type": "bool", "required": True},
    "error_message": {"type": "string", "required": True}}}}
_CONDITIONS = {"precondition": _CONDITION, "postcondition": _CONDITION}
LIFECYCLE: dict[str, Schema] = {
    "resource": {"attributes": {
        "create_before_destroy": {"type": "bool", "optional": True},
        "prevent_destroy": {"type": "bool", "optional": True},
        "ignore_changes": {"type": "dynamic", "optional": True},
        "replace_triggered_by": {"type": "dynamic", "optional": True},
    }, "block_types": _CONDITIONS},
    "data": {"block_types": _CONDITIONS},
    "ephemeral": {"block_types": _CONDITIONS},
}
# terraform.io/builtin/terraform: resources of Terraform itself, in no provider's schema
BUILTIN = "terraform.io/builtin/terraform"
BUILTIN_TYPES: dict[tuple[str, str], Schema] = {
    ("resource", "terraform_data"): {"attributes": {
        "input": {"type": "dynamic", "optional": True},
        "triggers_replace": {"type": "dynamic", "optional": True},
        "output": {"type": "dynamic", "computed": True},
        "id": {"type": "string", "computed": True}}},
    ("data", "terraform_remote_state"): {"attributes": {
        "backend": {"type": "string", "required": True},
        "config": {"type": "dynamic", "optional": True},
        "defaults": {"type": "dynamic", "optional": True},
        "workspace": {"type": "string", "optional": True},
        "outputs": {"type": "dynamic", "computed": True}}},
}
DYNAMIC: Schema = {"attributes": {
    "for_each": {"type": "dynamic", "required": True},
    "iterator": {"type": "dynamic", "optional": True},
    "labels": {"type": "dynamic", "optional": True},
}}


@dataclass
class _Module:
    """One Terraform directory: its files' structure and its provider local names."""

    path: str
    bodies: dict[str, Body] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # local name -> source address
    syntax: list[tuple[str, HclSyntaxError]] = field(default_factory=list)

    def source_of(self, local: str) -> str:
        if local == "terraform":
            return BUILTIN
        return self.sources.get(local) or source_address(local)

    def declares(self, local: str) -> bool:
        """In required_providers, or configured by a provider block (an implicit
        hashicorp/<name> provider, which `terraform init` installs)."""
        return local in self.sources or any(
            b.type == "provider" and b.labels[:1] == [local]
            for body in self.bodies.values() for b in body.blocks)


def modules(facts: TerraformFacts) -> list[_Module]:
    """Every Terraform directory of the repository (override files left out: they
    merge into other files' blocks, so they are not complete blocks themselves)."""
    by_dir: dict[str, _Module] = {}
    # python-hcl2 refuses some files Terraform reads (e.g. an argument set twice): those
    # are parse-errors for the other rules, but their structure is still checked here
    for rel in sorted({*facts.files, *facts.unparsed}):
        name = PurePosixPath(rel).name
        if name == "override.tf" or name.endswith("_override.tf"):
            continue
        module = by_dir.setdefault(PurePosixPath(rel).parent.as_posix(),
                                   _Module(PurePosixPath(rel).parent.as_posix()))
        try:
            module.bodies[rel] = parse_body(source(facts, rel))
        except HclSyntaxError as exc:
            module.syntax.append((rel, exc))
        for block in facts.files.get(rel, {}).get("terraform") or []:
            required = block.get("required_providers") if isinstance(block, dict) else None
            for providers in required or []:
                for local, spec in (providers if isinstance(providers, dict) else {}).items():
                    src = spec.get("source") if isinstance(spec, dict) else None
                    module.sources[local] = source_address(src if isinstance(src, str)
                                                           else local)
    return list(by_dir.values())


def _suggest(name: str, options: Any) -> str:
    """` (did you mean `x`?)` for a near miss, or a name it is a part of (`sku`:
    `sku_tier`); empty when nothing is close."""
    choices = sorted(options)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.75) or [
        c for c in choices if c.startswith(f"{name}_") or c.endswith(f"_{name}")][:1]
    return f" (did you mean `{close[0]}`?)" if close else ""


def _is_object_collection(spec: Schema) -> bool:
    """A list/set-of-object argument, which Terraform also accepts written as blocks."""
    type_ = spec.get("type")
    return (isinstance(type_, list) and len(type_) == 2 and type_[0] in {"list", "set"}
            and isinstance(type_[1], list) and type_[1][:1] == ["object"])


def _object_schema(fields: dict[str, Any]) -> Schema:
    """An object type's fields as a block schema (every field optional; a list/set of
    objects may be written as blocks again)."""
    return {"attributes": {name: {"type": type_, "optional": True}
                           for name, type_ in fields.items()}}


class TerraformSchemaRule(Rule):
    """Checks every resource, data source, ephemeral resource and provider block of
    terraform/ against the providers' schemas (`terraform providers schema -json`):
    unknown arguments and blocks, missing required ones, blocks written as arguments and
    the reverse, block counts and labels by nesting mode, computed-only arguments set,
    and deprecated ones (warning). `dynamic` blocks and Terraform's meta-arguments are
    understood. Without schemas the rule says once that it was skipped.

    Bad: `resource "azurerm_kubernetes_cluster" "main" { ... sku = "Free" }` (no such
    argument; `sku_tier` is) or `identity = { type = "SystemAssigned" }` (a block).
    Good: `sku_tier = "Free"` and `identity { type = "SystemAssigned" }`.
    """

    id = "terraform-schema"
    summary = "terraform/ does not match the provider schema (argument, block, nesting)"
    hint = "see the provider's documentation for this resource"
    tags: ClassVar[tuple[str, ...]] = ("terraform",)
    subs = frozenset({"unknown-argument", "unknown-block", "unknown-type", "unknown-provider",
                      "missing-argument", "missing-block", "nesting", "computed",
                      "deprecated", "duplicate", "syntax", "no-schema", "skipped"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        facts = ctx.terraform
        if facts is None or not (facts.files or facts.unparsed):
            return
        if facts.schema_location is None:
            yield self._at(None, "provider schemas not found: terraform/ was not checked "
                           "against them", None, sub="skipped", severity=Severity.INFO,
                           hint=f"pass --terraform-schema PATH or set {ENV_VAR} to the output "
                                "of `terraform providers schema -json` (a file or a directory)")
            return
        schemas = load(facts.schema_location)
        for module in modules(facts):
            yield from _ModuleCheck(self, schemas, module).run()

    def _at(self, where: str | None, message: str, file: str | None, line: int | None = None,
            *, sub: str, severity: Severity | None = None, hint: str | None = None) -> Finding:
        return Finding(rule=f"{self.id}[{sub}]", severity=severity or self.severity,
                       object=where or "", message=message,
                       hint=self.hint if hint is None else hint, file=file, line=line)


@dataclass
class _ModuleCheck:
    rule: TerraformSchemaRule
    schemas: ProviderSchemas
    module: _Module
    file: str = ""
    no_schema: set[str] = field(default_factory=set)

    def run(self) -> Iterator[Finding]:
        for file, exc in self.module.syntax:
            yield self.rule._at(None, f"{file}: cannot read its structure ({exc}): not "
                                "checked against the provider schema", file, exc.line,
                                sub="syntax", severity=Severity.WARNING,
                                hint="run `terraform fmt` on the file")
        for file, body in sorted(self.module.bodies.items()):
            self.file = file
            for block in body.blocks:
                yield from self.top(block)

    def finding(self, where: str, message: str, line: int, sub: str, *,
                severity: Severity | None = None, hint: str | None = None) -> Finding:
        return self.rule._at(where, message, self.file, line, sub=sub, severity=severity,
                             hint=hint)

    def top(self, block: Block) -> Iterator[Finding]:
        if block.type == "check":  # a scoped data source may sit inside a check block
            for inner in block.body.blocks:
                if inner.type == "data":
                    yield from self.top(inner)
            return
        if block.type == "provider" and len(block.labels) == 1:
            yield from self.provider(block)
        elif block.type in {"resource", "data", "ephemeral"} and len(block.labels) == 2:
            yield from self.resource(block)

    def provider(self, block: Block) -> Iterator[Finding]:
        local = block.labels[0]
        where = f"provider.{local}"
        src = self.module.source_of(local)
        schema = self.schemas.block(src, "provider", "")
        if schema is None:
            yield from self.missing_provider(where, local, src, block.line, declared=True)
            return
        for attr in block.body.attributes:
            if attr.name == "version":
                yield self.finding(where, f"{where}: `version` in a provider block is "
                                   "deprecated in Terraform", attr.line, "deprecated",
                                   severity=Severity.WARNING,
                                   hint="move the constraint to terraform { required_providers }")
        yield from self.body(block.body, schema, where, block.line, META_ARGS["provider"])

    def resource(self, block: Block) -> Iterator[Finding]:
        kind, (type_, name) = block.type, block.labels
        where = f"{type_}.{name}" if kind == "resource" else f"{kind}.{type_}.{name}"
        local = type_.split("_", 1)[0]
        for attr in block.body.attributes:
            if attr.name == "provider":
                local = attr.expr.split(".", 1)[0].strip()
        src = self.module.source_of(local)
        if src == BUILTIN and (kind, type_) in BUILTIN_TYPES:
            yield from self.body(block.body, BUILTIN_TYPES[(kind, type_)], where, block.line,
                                 META_ARGS[kind], frozenset({"lifecycle"}))
            return
        if src not in self.schemas.providers:
            yield from self.missing_provider(where, local, src, block.line,
                                             declared=self.module.declares(local),
                                             type_=type_, kind=kind)
            return
        schema = self.schemas.block(src, kind, type_)
        what = {"resource": "resource type", "data": "data source",
                "ephemeral": "ephemeral resource type"}[kind]
        if schema is None:
            known = self.schemas.providers[src].get(
                {"resource": "resource_schemas", "data": "data_source_schemas",
                 "ephemeral": "ephemeral_resource_schemas"}[kind]) or {}
            yield self.finding(where, f"{where}: provider {src} has no {what} `{type_}`"
                               f"{_suggest(type_, known)}", block.line, "unknown-type")
            return
        if schema.get("deprecated"):
            yield self.finding(where, f"{where}: {what} `{type_}` is deprecated", block.line,
                               "deprecated", severity=Severity.WARNING,
                               hint="see the provider's upgrade guide for its replacement")
        meta_blocks = {"lifecycle"} | ({"provisioner", "connection"} if kind == "resource"
                                       else set())
        lifecycle = [b for b in block.body.blocks if b.type == "lifecycle"]
        for lc in lifecycle:
            yield from self.body(lc.body, LIFECYCLE[kind], f"{where}.lifecycle", lc.line,
                                 frozenset())
        if len(lifecycle) > 1:
            yield self.finding(where, f"{where}: more than one lifecycle block",
                               lifecycle[1].line, "duplicate")
        yield from self.body(block.body, schema, where, block.line, META_ARGS[kind],
                             frozenset(meta_blocks))

    def missing_provider(self, where: str, local: str, src: str, line: int, *,
                         declared: bool, type_: str = "", kind: str = "") -> Iterator[Finding]:
        if declared:
            if src not in self.no_schema:
                self.no_schema.add(src)
                yield self.finding(
                    f"provider.{local}", f"no schema for provider {src} (in "
                    f"{self.schemas.location.name}: {', '.join(sorted(self.schemas.providers))})"
                    f": what uses it in {self.module.path}/ is not checked", line,
                    "no-schema", severity=Severity.INFO,
                    hint="add that provider's `terraform providers schema -json` output to "
                         "the schema location")
            return
        suggestion = _suggest(type_, self.schemas.types(kind)) if type_ else ""
        # a near miss of a known type is a typo; otherwise it may be a provider init finds
        yield self.finding(
            where, f"{where}: provider `{local}` is not declared in required_providers and "
            f"has no schema{suggestion}: Terraform would look for {src}", line,
            "unknown-provider", severity=Severity.ERROR if suggestion else Severity.WARNING,
            hint="fix the type name, or declare the provider in terraform { required_providers }")

    def body(self, body: Body, schema: Schema, where: str, line: int,
             meta: frozenset[str] = frozenset(),
             meta_blocks: frozenset[str] = frozenset()) -> Iterator[Finding]:
        attrs: dict[str, Schema] = schema.get("attributes") or {}
        blocks: dict[str, Schema] = schema.get("block_types") or {}
        set_attrs: dict[str, Attribute] = {}
        for attr in body.attributes:
            if attr.name in set_attrs:
                yield self.finding(where, f"{where}: argument `{attr.name}` is set twice "
                                   f"(first on line {set_attrs[attr.name].line})", attr.line,
                                   "duplicate")
                continue
            set_attrs[attr.name] = attr
            if attr.name not in meta:
                yield from self.attribute(attr, attrs, blocks, where)
        counts: Counter[str] = Counter()
        dynamic: set[str] = set()
        for block in body.blocks:
            if block.type in meta_blocks:
                continue
            if block.type == "dynamic":
                label = yield from self.dynamic(block, attrs, blocks, where)
                if label:
                    dynamic.add(label)
                continue
            found = yield from self.block(block, attrs, blocks, where)
            if found:
                counts[block.type] += 1
        for name, spec in sorted(attrs.items()):
            if spec.get("required") and name not in set_attrs:
                yield self.finding(where, f"{where}: required argument `{name}` is missing",
                                   line, "missing-argument")
        for name, spec in sorted(blocks.items()):
            if name in dynamic:
                continue  # how many blocks a dynamic block makes is known at plan time
            yield from self.count(name, spec, counts[name], body, where, line)

    def attribute(self, attr: Attribute, attrs: dict[str, Schema], blocks: dict[str, Schema],
                  where: str) -> Iterator[Finding]:
        spec = attrs.get(attr.name)
        here = f"{where}.{attr.name}"
        if spec is None:
            if attr.name in blocks:
                yield self.finding(here, f"{where}: `{attr.name}` is a block, not an argument: "
                                   f"write `{attr.name} {{ ... }}` without `=`", attr.line,
                                   "nesting")
            else:
                yield self.finding(here, f"{where}: unknown argument `{attr.name}`"
                                   f"{_suggest(attr.name, [*attrs, *blocks])}", attr.line,
                                   "unknown-argument")
            return
        if spec.get("computed") and not spec.get("optional") and not spec.get("required"):
            yield self.finding(here, f"{where}: `{attr.name}` is computed by the provider and "
                               "cannot be set", attr.line, "computed",
                               hint="remove it; read it as an attribute of the resource")
        if spec.get("deprecated"):
            yield self.finding(here, f"{where}: argument `{attr.name}` is deprecated",
                               attr.line, "deprecated", severity=Severity.WARNING,
                               hint="see the provider's documentation for its replacement")

    def block(self, block: Block, attrs: dict[str, Schema], blocks: dict[str, Schema],
              where: str) -> Generator[Finding, None, bool]:
        """Check one block; returns whether it is one of the schema's blocks (counted)."""
        spec = blocks.get(block.type)
        here = f"{where}.{block.type}"
        if spec is None:
            attr = attrs.get(block.type)
            if attr is not None and _is_object_collection(attr):
                # Terraform's "attributes as blocks": the body is one of the list's objects
                yield from self.body(block.body, _object_schema(attr["type"][1][1]), here,
                                     block.line)
                return False
            if attr is not None:
                yield self.finding(here, f"{where}: `{block.type}` is an argument, not a block: "
                                   f"write `{block.type} = ...`", block.line, "nesting")
            else:
                yield self.finding(here, f"{where}: unknown block `{block.type}`"
                                   f"{_suggest(block.type, [*blocks, *attrs])}", block.line,
                                   "unknown-block")
            return False
        yield from self.labels(block, spec, here)
        inner: Schema = spec.get("block") or {}
        if inner.get("deprecated"):
            yield self.finding(here, f"{where}: block `{block.type}` is deprecated", block.line,
                               "deprecated", severity=Severity.WARNING,
                               hint="see the provider's documentation for its replacement")
        yield from self.body(block.body, inner, here, block.line)
        return True

    def labels(self, block: Block, spec: Schema, here: str) -> Iterator[Finding]:
        wanted = 1 if spec.get("nesting_mode") == "map" else 0
        if len(block.labels) != wanted:
            message = (f"{here}: a `{block.type}` block (nesting map) needs one label, its key"
                       if wanted else f"{here}: a `{block.type}` block takes no labels, got "
                       + ", ".join(f'"{label}"' for label in block.labels))
            yield self.finding(here, message, block.line, "nesting")

    def dynamic(self, block: Block, attrs: dict[str, Schema], blocks: dict[str, Schema],
                where: str) -> Generator[Finding, None, str | None]:
        """Check a dynamic block; returns the block type it generates (None: unknown)."""
        if len(block.labels) != 1:
            yield self.finding(where, f"{where}: a dynamic block needs one label, the block "
                               "type it generates", block.line, "nesting")
            return None
        label = block.labels[0]
        here = f"{where}.dynamic.{label}"
        yield from self.body(block.body, DYNAMIC, here, block.line, frozenset(),
                             frozenset({"content"}))
        contents = [b for b in block.body.blocks if b.type == "content"]
        if len(contents) != 1:
            yield self.finding(here, f"{here}: a dynamic block needs exactly one `content` "
                               f"block, has {len(contents)}", block.line,
                               "missing-block" if not contents else "duplicate")
        spec = blocks.get(label)
        if spec is None:
            attr = attrs.get(label)
            if attr is not None and _is_object_collection(attr):
                return None
            if attr is not None:
                yield self.finding(here, f"{where}: dynamic `{label}`: `{label}` is an "
                                   "argument, not a block: assign it a for expression",
                                   block.line, "nesting")
            else:
                yield self.finding(here, f"{where}: dynamic block of unknown block type "
                                   f"`{label}`{_suggest(label, blocks)}", block.line,
                                   "unknown-block")
            return None
        if spec.get("nesting_mode") in {"single", "group"}:
            yield self.finding(here, f"{where}: dynamic `{label}`: `{label}` is a single "
                               "block; a dynamic block may generate more than one",
                               block.line, "nesting", severity=Severity.WARNING)
        for content in contents[:1]:
            yield from self.body(content.body, spec.get("block") or {}, f"{where}.{label}",
                                 content.line)
        return label

    def count(self, name: str, spec: Schema, n: int, body: Body, where: str,
              line: int) -> Iterator[Finding]:
        mode = spec.get("nesting_mode")
        extra = [b for b in body.blocks if b.type == name]
        low = int(spec.get("min_items") or 0)
        high = 1 if mode in {"single", "group"} else int(spec.get("max_items") or 0)
        if n < low:
            yield self.finding(f"{where}.{name}", f"{where}: required block `{name}` is missing"
                               + (f" (at least {low})" if low > 1 else ""), line,
                               "missing-block")
        if high and n > high:
            yield self.finding(f"{where}.{name}", f"{where}: at most {high} `{name}` "
                               f"block{'s' if high > 1 else ''} allowed (nesting {mode}), "
                               f"found {n}", extra[high].line, "nesting")

