"""Parse the HCL expressions python-hcl2 hands back as text (`"${merge(...)}"`).

A small recursive-descent parser for the subset mercury's Terraform uses: literals,
templates with `${...}`, references, index, object/tuple literals, for-expressions,
function calls, `== != < > <= >= && || !` and `?:`. Nodes are tuples
`(tag, source_text, *children)`; hcl_eval evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class HclEvalError(Exception):
    """The expression is outside the supported subset, or failed (e.g. a missing key)."""



# ---------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"""(?P<ws>\s+|\#[^\n]*|//[^\n]*)
      |(?P<num>\d+(?:\.\d+)?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
      |(?P<op>=>|==|!=|<=|>=|&&|\|\||\.\.\.|[{}\[\]().,:=?!<>*+\-/%])
      |(?P<quote>")""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, ident, op, str, end
    value: str
    start: int
    end: int


def _read_string(src: str, pos: int) -> tuple[str, int]:
    """Raw content of a string literal starting after its opening quote; returns (raw, end)."""
    depth = 0
    i = pos
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if src.startswith("${", i):
            depth += 1
            i += 2
            continue
        if ch == "}" and depth:
            depth -= 1
        elif ch == '"' and not depth:
            return src[pos:i], i + 1
        i += 1
    raise HclEvalError("unterminated string")


def _unescape(raw: str) -> str:
    table = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), m.group(0)), raw)


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise HclEvalError(f"unexpected {src[pos]!r}")
        kind = m.lastgroup or ""
        if kind == "quote":
            raw, end = _read_string(src, m.end())
            toks.append(_Tok("str", _unescape(raw), pos, end))
            pos = end
            continue
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos, m.end()))
        pos = m.end()
    toks.append(_Tok("end", "", len(src), len(src)))
    return toks


# ---------------------------------------------------------------- AST

Node = tuple[Any, ...]  # (tag, text, *children)


def split_template(text: str) -> list[str | Node]:
    """Literal parts and parsed `${...}` interpolations of a template string."""
    parts: list[str | Node] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            buf.append("${")
            i += 3
        elif text.startswith("${", i):
            depth, j, quoted = 1, i + 2, False
            while j < len(text) and depth:
                ch = text[j]
                if quoted:
                    if ch == "\\":
                        j += 1
                    elif ch == '"':
                        quoted = False
                elif ch == '"':
                    quoted = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            if depth:
                raise HclEvalError(f"unterminated interpolation in {text!r}")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(parse_expr(text[i + 2 : j - 1]))
            i = j
        else:
            buf.append(text[i])
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts


def parse_expr(src: str) -> Node:
    parser = _Parser(src)
    node = parser.expr()
    parser.expect("end")
    return node


def parse_value(value: str) -> Node:
    """python-hcl2's string form of an attribute: a template, often a lone `${expr}`."""
    parts = split_template(value)
    if len(parts) == 1 and not isinstance(parts[0], str):
        return parts[0]
    return ("tmpl", value, parts)


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.toks = _lex(src)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def at(self, value: str) -> bool:
        return self.tok.kind in {"op", "ident"} and self.tok.value == value

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> _Tok:
        if value == "end" and self.tok.kind == "end":
            return self.tok
        if not self.at(value):
            raise HclEvalError(f"expected {value!r} at {self.src[self.tok.start:][:30]!r}")
        return self.take()

    def text(self, start: int) -> str:
        return self.src[start : self.toks[self.i - 1].end].strip()

    def expr(self) -> Node:
        start = self.tok.start
        cond = self.binary(0)
        if self.at("?"):
            self.take()
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return ("cond", self.text(start), cond, yes, no)
        return cond

    _LEVELS = (("||",), ("&&",), ("==", "!=", "<", ">", "<=", ">="))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        start = self.tok.start
        left = self.binary(level + 1)
        while self.tok.kind == "op" and self.tok.value in self._LEVELS[level]:
            op = self.take().value
            right = self.binary(level + 1)
            left = ("binop", self.text(start), op, left, right)
        return left

    def unary(self) -> Node:
        start = self.tok.start
        if self.at("!"):
            self.take()
            return ("not", self.text(start), self.unary())
        return self.postfix()

    def postfix(self) -> Node:
        start = self.tok.start
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.take()
                if name.kind not in {"ident", "num"}:
                    raise HclEvalError("expected attribute name")
                node = ("attr", self.text(start), node, name.value)
            elif self.at("["):
                self.take()
                index = self.expr()
                self.expect("]")
                node = ("index", self.text(start), node, index)
            else:
                return node

    def primary(self) -> Node:
        start = self.tok.start
        tok = self.take()
        if tok.kind == "num":
            return ("lit", tok.value, float(tok.value) if "." in tok.value else int(tok.value))
        if tok.kind == "str":
            return parse_value(tok.value) if "${" in tok.value else ("lit", tok.value, tok.value)
        if tok.kind == "ident":
            if tok.value in {"true", "false"}:
                return ("lit", tok.value, tok.value == "true")
            if tok.value == "null":
                return ("lit", tok.value, None)
            if self.at("("):
                self.take()
                args: list[Node] = []
                while not self.at(")"):
                    args.append(self.expr())
                    if self.at(","):
                        self.take()
                self.expect(")")
                return ("call", self.text(start), tok.value, args)
            return ("ref", tok.value, tok.value)
        if tok.value == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.value == "{":
            return self.for_expr(start, "}") if self.at("for") else self.object(start)
        if tok.value == "[":
            if self.at("for"):
                return self.for_expr(start, "]")
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.expr())
                if self.at(","):
                    self.take()
            self.expect("]")
            return ("tuple", self.text(start), items)
        raise HclEvalError(f"unsupported syntax at {self.src[tok.start:][:30]!r}")

    def object(self, start: int) -> Node:
        elems: list[tuple[Node, Node]] = []
        while not self.at("}"):
            key_tok = self.tok
            if key_tok.kind == "ident" and self.toks[self.i + 1].value in {"=", ":"}:
                self.take()
                key: Node = ("lit", key_tok.value, key_tok.value)
            else:
                key = self.expr()
            if not (self.at("=") or self.at(":")):
                raise HclEvalError("expected '=' or ':' in object")
            self.take()
            elems.append((key, self.expr()))
            if self.at(","):
                self.take()
        self.expect("}")
        return ("object", self.text(start), elems)

    def for_expr(self, start: int, close: str) -> Node:
        self.expect("for")
        names = [self.take().value]
        if self.at(","):
            self.take()
            names.append(self.take().value)
        self.expect("in")
        coll = self.binary(0)
        self.expect(":")
        key = self.expr()
        value = None
        if close == "}":
            self.expect("=>")
            value = self.expr()
            if self.at("..."):
                raise HclEvalError("grouping for-expressions are not supported")
        cond = None
        if self.at("if"):
            self.take()
            cond = self.expr()
        self.expect(close)
        return ("for", self.text(start), names, coll, key, value, cond)
