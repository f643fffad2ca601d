"""YAML as Flux reads it: the YAML 1.2 core schema, at libyaml speed.

kustomize (kyaml) and Flux parse YAML 1.2: `on`, `off`, `yes`, `no`, `y` and `=` are
strings, `0777` is the integer 777 and `1:30` is a string. PyYAML resolves YAML 1.1,
where those are booleans, octals, sexagesimals or the `value` tag (which SafeLoader
cannot even construct), so a plain `CSafeLoader` misreads real manifests. `Loader`
keeps libyaml's C parser and swaps only the implicit resolvers for the 1.2 core ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

# libyaml's parser: `yaml` exports only the ready-made C loaders, not CParser itself
# (getattr(yaml, "CParser") is None, which silently gave the pure-Python parser, 20x slower)
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)


class Resolver12(yaml.resolver.BaseResolver):
    """The YAML 1.2 core schema's implicit tags (null, bool, int, float; rest: str)."""


Resolver12.yaml_implicit_resolvers = {}
_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
     "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
]
for _tag, _pattern, _first in _RESOLVERS:
    Resolver12.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
Resolver12.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
# `<<` merge keys: not in the 1.2 core schema, but Go's yaml (and so kustomize) honours them
Resolver12.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class Constructor12(yaml.constructor.SafeConstructor):
    """Integers as 1.2 reads them (`0o17`, `0x1f`, and `017` is decimal 17)."""

    def construct_yaml_int(self, node: yaml.Node) -> int:
        value = str(self.construct_scalar(node))  # type: ignore[arg-type]
        sign = -1 if value.startswith("-") else 1
        digits = value.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits)


Constructor12.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", Constructor12.construct_yaml_int)

if _CParser is not None:
    class Loader(_CParser, Constructor12, Resolver12):  # type: ignore[misc]
        """libyaml's parser with the YAML 1.2 core schema."""

        def __init__(self, stream: Any) -> None:
            _CParser.__init__(self, stream)
            Constructor12.__init__(self)
            Resolver12.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    class Loader(yaml.reader.Reader, yaml.scanner.Scanner,  # type: ignore[no-redef]
                 yaml.parser.Parser, yaml.composer.Composer, Constructor12, Resolver12):
        def __init__(self, stream: Any) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            Constructor12.__init__(self)
            Resolver12.__init__(self)


def load(text: str | bytes) -> Any:
    """One YAML 1.2 document."""
    return yaml.load(text, Loader=Loader)


def load_all(text: str | bytes) -> Iterator[Any]:
    """Every document of a YAML 1.2 stream."""
    return yaml.load_all(text, Loader=Loader)
