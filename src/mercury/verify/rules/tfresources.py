"""Resources of terraform/ as the rules read them: (file, name, body) plus a line to report.

python-hcl2 gives `{"resource": [{type: {name: body}}]}` per file; rules that look at
resource bodies (the AKS Flux extension, identities and role assignments) share this one
walker instead of each unpacking the nesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mercury.verify.context import TerraformFacts


@dataclass(frozen=True)
class TfResource:
    type: str
    name: str
    body: dict[str, Any]
    file: str
    line: int | None

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


def resources(facts: TerraformFacts, *types: str, kind: str = "resource") -> Iterator[TfResource]:
    """Every `kind "type" "name"` block of the wanted types, in file order."""
    for file, doc in sorted(facts.files.items()):
        for block in doc.get(kind) or []:
            if not isinstance(block, dict):
                continue
            for type_, named in block.items():
                if (types and type_ not in types) or not isinstance(named, dict):
                    continue
                for name, body in named.items():
                    if isinstance(body, dict):
                        yield TfResource(type_, name, body, file,
                                         block_line(facts, file, kind, type_, name))


def block_line(facts: TerraformFacts, file: str, kind: str, type_: str, name: str) -> int | None:
    """1-based line of `kind "type" "name" {` in a Terraform file (None: not found)."""
    pattern = rf'^\s*{kind}\s+"{re.escape(type_)}"\s+"{re.escape(name)}"'
    return line_of(facts, file, pattern)


def line_of(facts: TerraformFacts, file: str, pattern: str, start: int = 0) -> int | None:
    """1-based line of the first match of `pattern` at or after character `start`."""
    text = source(facts, file)
    match = re.compile(pattern, re.M).search(text, start)
    return text.count("\n", 0, match.start()) + 1 if match else None


def source(facts: TerraformFacts, file: str) -> str:
    """A Terraform file's text, read once per run (empty when unreadable)."""
    texts: dict[str, str] = facts.cache.setdefault("texts", {})
    if file not in texts:
        try:
            texts[file] = (facts.root / file).read_text(encoding="utf-8")
        except OSError:
            texts[file] = ""
    return texts[file]


def unwrap(value: object) -> str:
    """`${expr}` -> `expr`; other values as text (python-hcl2 keeps the wrapper)."""
    text = str(value).strip()
    match = re.fullmatch(r"\$\{(.*)\}", text, flags=re.S)
    return match.group(1).strip() if match else text
