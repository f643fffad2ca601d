"""Deterministic stand-ins for values Terraform knows only after `apply`.

Offline builds still need `${AZURE_TENANT_ID}` & co. to look real: a UUID where Azure
returns a UUID, a lowercase name where it returns a name. Each distinct expression gets
its own value (hash of the expression text), stable across runs and machines, so two
variables fed by different resources never look equal by accident.
"""

from __future__ import annotations

import hashlib
import re
import uuid

_UUID_ATTRS = re.compile(
    r"(client_id|tenant_id|object_id|principal_id|subscription_id|application_id|guid)$"
)
_NAMESPACE = uuid.UUID("6f1c2d1e-8b7a-4c55-9a43-6d2f0e51a0b1")


def _digest(expr: str) -> str:
    return hashlib.sha256(expr.encode()).hexdigest()


def _last_attr(expr: str) -> str:
    tail = re.sub(r"\[[^\]]*\]", "", expr).rsplit(".", 1)[-1]
    return tail.strip().lower()


def _resource_type(expr: str) -> str:
    parts = expr.split(".")
    return parts[1] if parts[0] == "data" and len(parts) > 1 else parts[0]


def sample_value(expr: str) -> str:
    """A realistic, deterministic value for the Terraform expression `expr`."""
    attr = _last_attr(expr)
    if _UUID_ATTRS.search(attr):
        return str(uuid.uuid5(_NAMESPACE, expr))
    digest = _digest(expr)
    if attr == "name":
        kind = _resource_type(expr).removeprefix("azurerm_")
        prefix = "".join(word[0] for word in kind.split("_") if word) or "x"
        # alphanumeric and <= 24 chars: valid for storage accounts and key vaults alike
        return f"{prefix}{digest[:12]}"
    if attr == "id":
        return f"/subscriptions/{uuid.uuid5(_NAMESPACE, 'sub')}/resourceGroups/sample/" \
               f"providers/sample/{digest[:12]}"
    if attr.endswith("endpoint") or attr.endswith("url"):
        return f"https://sample{digest[:10]}.example.invalid/"
    return f"sample-{digest[:12]}"
