"""What the API server said about one object, as verdicts a rule can report.

Pure functions over the server's answers (a `Status` body, `Warning` headers), so they
are tested without a server. A rejection's text is the server's own cause: the field
path and reason of each `status.details.causes` entry, or the status message when the
server gave no causes (Pod Security, a missing namespace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_MESSAGE = 400
Outcome = Literal["rejected", "warning", "unchecked"]

# `Deployment.apps "n8n" is invalid: ` / `pods "p" is forbidden: `: the object is the
# finding's own, so the prefix repeats what the finding already names.
_OBJECT_PREFIX = re.compile(r'^[\w.-]+ "[^"]*" is (?:invalid|forbidden): ')
# server-side apply that cannot type the object (unknown field, wrong type)
_TYPED_PATCH = re.compile(r"^failed to create typed patch object \([^)]*\): ")
_PSA = "violates PodSecurity"
_PSA_WARNING = re.compile(r'^would violate PodSecurity "(?P<level>[\w-]+):(?P<version>[\w.-]+)"')
_CEL_FALLBACK = "failed rule: "


@dataclass(frozen=True)
class Verdict:
    """One thing the server refused (or warned about) in one object."""

    outcome: Outcome
    sub: str  # invalid, cel, pod-security, forbidden, not-found, conflict, other, ...
    message: str


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def strip_prefix(message: str) -> str:
    """The status message without the `Kind "name" is invalid: ` the finding repeats."""
    message = _OBJECT_PREFIX.sub("", message.strip(), count=1)
    return _TYPED_PATCH.sub("", message, count=1)


def cause_texts(body: Mapping[str, Any]) -> list[str]:
    """`field: message` per cause of a Status (deduplicated), else its message."""
    details = body.get("details")
    causes = details.get("causes") if isinstance(details, Mapping) else None
    out: list[str] = []
    for cause in causes if isinstance(causes, list) else []:
        if not isinstance(cause, Mapping):
            continue
        field = str(cause.get("field") or "")
        text = str(cause.get("message") or cause.get("reason") or "")
        line = f"{field}: {text}" if field and not text.startswith(field) else text
        if line and line not in out:
            out.append(line)
    if not out:
        message = str(body.get("message") or f"HTTP {body.get('code', '?')}")
        out.append(strip_prefix(message))
    return [_short(line) for line in out]


def is_cel(text: str, cel_messages: Iterable[str]) -> bool:
    """A cause that comes from a CRD's `x-kubernetes-validations` rule.

    The server reports a CEL failure with the rule's `message`, or `failed rule: RULE`
    when it has none; `cel_messages` are the messages and rules of the kind's CRD.
    """
    if _CEL_FALLBACK in text:
        return True
    return any(m and m in text for m in cel_messages)


def rejections(status: int, body: Mapping[str, Any],
               cel_messages: Iterable[str] = ()) -> list[Verdict]:
    """The verdicts of a refused request (status >= 400); [] for an accepted one."""
    if status < 400:
        return []
    texts = cause_texts(body)
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or "")
    if status == 403 or reason == "Forbidden":
        sub = "pod-security" if _PSA in message else "forbidden"
        if sub == "pod-security":
            texts = [_short(message[message.index(_PSA):])]
        return [Verdict("rejected", sub, t) for t in texts]
    if status == 404 or reason == "NotFound":
        return [Verdict("rejected", "not-found", t) for t in texts]
    if status == 409 or reason in {"Conflict", "AlreadyExists"}:
        return [Verdict("rejected", "conflict", t) for t in texts]
    # server-side apply answers 500 when it cannot type the object against its schema
    # (wrong type, duplicate list-map keys): the object's fault, not the server's
    if status in (400, 422) or reason in {"Invalid", "BadRequest"} or _TYPED_PATCH.match(message):
        messages = list(cel_messages)
        return [Verdict("rejected", "cel" if is_cel(t, messages) else "invalid", t)
                for t in texts]
    return [Verdict("rejected", "other", f"HTTP {status}: {t}") for t in texts]


def warning_verdicts(warnings: Iterable[str]) -> list[Verdict]:
    """The server's `Warning` headers on an accepted object, by what they are about."""
    out: list[Verdict] = []
    for text in warnings:
        lowered = text.lower()
        if _PSA_WARNING.match(text):
            sub = "pod-security"
        elif "deprecated" in lowered or "unavailable in v" in lowered:
            sub = "deprecated"
        elif lowered.startswith("unknown field"):
            sub = "unknown-field"
        elif lowered.startswith("duplicate field"):
            sub = "duplicate-field"
        else:
            sub = "other"
        verdict = Verdict("warning", sub, _short(text))
        if verdict not in out:
            out.append(verdict)
    return out


def cel_messages_of(crd: Mapping[str, Any], version: str | None = None) -> set[str]:
    """Every `message` and `rule` of the CRD's x-kubernetes-validations (one version or all)."""
    out: set[str] = set()
    spec = crd.get("spec")
    versions = spec.get("versions") if isinstance(spec, Mapping) else None
    for entry in versions if isinstance(versions, list) else []:
        if not isinstance(entry, Mapping) or (version and entry.get("name") != version):
            continue
        schema = (entry.get("schema") or {}).get("openAPIV3Schema")
        for rule in _validations(schema):
            for key in ("message", "rule"):
                value = rule.get(key)
                if isinstance(value, str) and value.strip():
                    out.add(value.strip())
    return out


def _validations(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        rules = node.get("x-kubernetes-validations")
        if isinstance(rules, list):
            yield from (r for r in rules if isinstance(r, Mapping))
        for value in node.values():
            yield from _validations(value)
    elif isinstance(node, list):
        for value in node:
            yield from _validations(value)
