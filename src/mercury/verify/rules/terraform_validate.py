"""terraform-validate: `terraform validate -json`'s diagnostics as findings, where it can run.

terraform-schema reads the providers' schemas offline; `terraform validate` also knows
Terraform's own language (undeclared variables, wrong function arguments, reference
cycles) and the provider version actually installed. It needs the providers that
`terraform init` downloads, so it runs only where they are: on a machine after
`terraform init`, never with a download of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from mercury.builder.hcl_syntax import HclSyntaxError, parse_body
from mercury.errors import InputError, ToolError
from mercury.exec import Command, resolve_tool
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.tfresources import source

TIMEOUT = 120.0  # seconds; validate itself takes ~1 s, loading azurerm's plugin most of it
_CONTEXT = re.compile(r'^(\w+)((?:\s+"[^"]*")*)')


def _needs(facts: TerraformFacts, module: str) -> set[str]:
    """What `terraform init` must have installed for a directory: providers, modules."""
    needs: set[str] = set()
    for rel in (*facts.files, *facts.unparsed):
        if PurePosixPath(rel).parent.as_posix() != module:
            continue
        try:
            body = parse_body(source(facts, rel))
        except HclSyntaxError:
            continue  # terraform validate reports the syntax error itself
        for block in body.blocks:
            if block.type in {"resource", "data", "ephemeral"} and block.labels and \
                    block.labels[0].startswith("terraform_"):
                continue  # terraform.io/builtin/terraform: nothing to install
            if block.type in {"resource", "data", "ephemeral", "provider"}:
                needs.add("providers")
            elif block.type == "module":
                needs.add("modules")
            elif block.type == "terraform" and any(
                    b.type == "required_providers" and b.body.items for b in block.body.blocks):
                needs.add("providers")
    return needs


def _address(context: str) -> str:
    """`resource "azurerm_x" "main"` -> `azurerm_x.main`; `output "y"` -> `output.y`."""
    m = _CONTEXT.match(context.strip())
    if not m:
        return ""
    labels = re.findall(r'"([^"]*)"', m.group(2))
    parts = labels if m.group(1) == "resource" else [m.group(1), *labels]
    return ".".join(parts)


class TerraformValidateRule(Rule):
    """Runs `terraform validate -json` in every Terraform directory whose providers
    `terraform init` installed (`.terraform/providers`), in its own process group with a
    timeout, and reports each diagnostic at its file and line. Where the providers are
    not installed, or terraform is not on PATH, it says so once (info) and runs nothing.

    Bad: `value = var.undeclared` in an output (Terraform: "Reference to undeclared input
    variable").  Good: declare the variable, or reference one that exists.
    """

    id = "terraform-validate"
    summary = "`terraform validate` reports a diagnostic (where providers are initialised)"
    hint = "run `terraform validate` in that directory for the full message"
    tags: ClassVar[tuple[str, ...]] = ("terraform",)
    subs = frozenset({"failed"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        facts = ctx.terraform
        if facts is None or not (facts.files or facts.unparsed):
            return
        dirs = sorted({PurePosixPath(f).parent.as_posix()
                       for f in (*facts.files, *facts.unparsed)})
        # Where it cannot run (no terraform, providers not initialised: every fresh clone
        # and CI without credentials) it stays silent: terraform-schema checks the same
        # structure offline, and a finding on every clean repository would be noise.
        try:
            terraform = resolve_tool("terraform")
        except InputError:
            return
        for module in dirs:
            workdir = facts.root / module
            if any(not (workdir / ".terraform" / n).is_dir() for n in _needs(facts, module)):
                continue
            yield from self._validate(terraform, workdir, module)

    def _validate(self, terraform: str, workdir: Path, module: str) -> Iterator[Finding]:
        command = Command([terraform, "validate", "-json", "-no-color"], cwd=workdir,
                          env={"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"},
                          timeout=TIMEOUT, ok_codes=(0, 1))
        try:
            proc = command.run()
            doc = json.loads(proc.stdout)
        except ToolError as exc:
            yield self._failed(module, f"`{command}` in {module}/ failed: {exc}")
            return
        except ValueError:
            yield self._failed(module, f"`{command}` in {module}/ printed no JSON: "
                               f"{proc.stdout.strip()[:200]!r}")
            return
        for diag in doc.get("diagnostics") or []:
            if isinstance(diag, dict):
                yield self._diagnostic(diag, module)

    def _diagnostic(self, diag: dict[str, Any], module: str) -> Finding:
        start = (diag.get("range") or {}).get("start") or {}
        filename = (diag.get("range") or {}).get("filename")
        file = (PurePosixPath(module) / filename).as_posix() if filename else f"{module}/"
        where = _address(str((diag.get("snippet") or {}).get("context") or ""))
        detail = " ".join(str(diag.get("detail") or "").split())
        message = f"terraform validate: {diag.get('summary', '')}" + (f": {detail}" if detail
                                                                      else "")
        severity = Severity.WARNING if diag.get("severity") == "warning" else Severity.ERROR
        return Finding(rule=self.id, severity=severity, object=where, message=message,
                       hint=self.hint, file=file, line=start.get("line"))

    def _failed(self, module: str, message: str) -> Finding:
        return Finding(rule=f"{self.id}[failed]", severity=Severity.WARNING, object="",
                       message=message, hint=self.hint, file=f"{module}/")
