"""Write docs/rules/<id>.md for every registered rule: what it catches, why, a bad and a
good example taken from its fixtures. Run after changing a rule or its fixtures:

    .venv/bin/python tests/rules/make_docs.py
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOCS = REPO / "docs" / "rules"
sys.path.insert(0, str(REPO / "src"))

from mercury.fsutil import write_atomic  # noqa: E402
from mercury.verify.rules import ALL_RULES  # noqa: E402
from mercury.verify.rules.base import Rule  # noqa: E402


def _example(rule_id: str, kind: str) -> tuple[str, str] | None:
    # the seed's own mistake makes the best example when a fixture reproduces it
    files = sorted([*(HERE / rule_id / kind).glob("*.yaml"), *(HERE / rule_id / kind).glob("*.tf")],
                   key=lambda p: ("seed" not in p.name, p.name))
    if not files:
        return None
    text = files[0].read_text().strip()
    return files[0].relative_to(REPO).as_posix(), text


def render_doc(rule: Rule) -> str:
    doc = inspect.cleandoc(type(rule).__doc__ or rule.summary)
    lines = [
        f"# {rule.id}", "",
        f"**{rule.summary}** (severity: {rule.severity.value}"
        + (f"; tags: {', '.join(rule.tags)}" if rule.tags else "") + ")", "",
        doc, "",
        f"**Fix:** {rule.hint}" if rule.hint else "", "",
    ]
    for kind, title in (("fail", "Bad"), ("pass", "Good")):
        example = _example(rule.id, kind)
        if example:
            fence = "hcl" if example[0].endswith(".tf") else "yaml"
            lines += [f"## {title}", "", f"From `{example[0]}`:", "", f"```{fence}", example[1],
                      "```", ""]
    return "\n".join(lines).replace("\n\n\n", "\n\n").rstrip() + "\n"


def main() -> int:
    for rule in ALL_RULES:
        write_atomic(DOCS / f"{rule.id}.md", render_doc(rule))
    print(f"wrote {len(ALL_RULES)} rule docs to {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
