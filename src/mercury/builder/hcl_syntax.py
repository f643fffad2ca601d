"""The structure of an HCL file with line numbers: bodies, attributes and blocks.

python-hcl2 gives values but no positions, and merges repeated blocks; a schema check
needs every attribute and block where it was written (`main.tf:12`). This reader keeps
the structure only: an attribute's expression is kept as its source text (its
brackets, strings, templates and heredocs are skipped, not interpreted).

    body = parse_body(text)
    for item in body.items: ...   # Attribute(name, line, expr) | Block(type, labels, line, body)
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field


class HclSyntaxError(Exception):
    """The text is not HCL this reader understands; `line` is 1-based."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Attribute:
    name: str
    line: int
    expr: str  # source text of the value, stripped


@dataclass
class Block:
    type: str
    labels: list[str]
    line: int
    body: Body


@dataclass
class Body:
    items: list[Attribute | Block] = field(default_factory=list)

    @property
    def attributes(self) -> list[Attribute]:
        return [i for i in self.items if isinstance(i, Attribute)]

    @property
    def blocks(self) -> list[Block]:
        return [i for i in self.items if isinstance(i, Block)]


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")
_OPEN = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # ident, str, nl, op, other
    value: str
    start: int
    end: int


class _Lexer:
    """Tokens of the structure: identifiers, quoted strings (as one token), newlines and
    punctuation; comments are dropped, heredocs and templates become one token."""

    def __init__(self, text: str):
        self.text = text
        self.lines = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.lines, pos)

    def tokens(self) -> list[_Tok]:
        text, pos, out = self.text, 0, []
        while pos < len(text):
            ch = text[pos]
            if ch == "\n":
                out.append(_Tok("nl", "\n", pos, pos + 1))
                pos += 1
            elif ch in " \t\r\ufeff":
                pos += 1
            elif ch == "#" or text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                if end < 0:
                    raise HclSyntaxError("unterminated /* comment", self.line(pos))
                # a multi-line comment still separates items like a newline would
                if "\n" in text[pos:end]:
                    out.append(_Tok("nl", "\n", pos, end + 2))
                pos = end + 2
            elif ch == '"':
                end = self.string(pos + 1)
                out.append(_Tok("str", text[pos:end], pos, end))
                pos = end
            elif text.startswith("<<", pos) and (m := _HEREDOC.match(text, pos)):
                end = self.heredoc(pos, m.end(), m.group(2))
                out.append(_Tok("other", text[pos:end], pos, end))
                pos = end
            elif m := _IDENT.match(text, pos):
                out.append(_Tok("ident", m.group(), pos, m.end()))
                pos = m.end()
            elif text.startswith(("==", "=>", "!=", "<=", ">="), pos):
                out.append(_Tok("other", text[pos:pos + 2], pos, pos + 2))
                pos += 2
            else:
                out.append(_Tok("op" if ch in "{}()[]=" else "other", ch, pos, pos + 1))
                pos += 1
        return out

    def string(self, pos: int) -> int:
        """End (after the closing quote) of a quoted template starting at `pos`."""
        text = self.text
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                pos += 2
            elif text.startswith(("$${", "%%{"), pos):
                pos += 3
            elif text.startswith(("${", "%{"), pos):
                pos = self.interpolation(pos + 2)
            elif ch == '"':
                return pos + 1
            elif ch == "\n":
                raise HclSyntaxError("unterminated string", self.line(pos))
            else:
                pos += 1
        raise HclSyntaxError("unterminated string", self.line(pos))

    def interpolation(self, pos: int) -> int:
        """End (after `}`) of a `${...}` / `%{...}` whose body starts at `pos`."""
        text, depth = self.text, 0
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                pos = self.string(pos + 1)
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    return pos + 1
                depth -= 1
            pos += 1
        raise HclSyntaxError("unterminated template interpolation", self.line(pos))

    def heredoc(self, start: int, pos: int, marker: str) -> int:
        """End of a heredoc (`<<` at `start`, content from `pos`), after its marker."""
        closing = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*\r?$", re.M)
        m = closing.search(self.text, pos)
        if not m:
            raise HclSyntaxError(f"heredoc <<{marker} is not closed", self.line(start))
        return m.end()


class _Parser:
    def __init__(self, text: str):
        self.lexer = _Lexer(text)
        self.toks = self.lexer.tokens()
        self.i = 0

    def peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def line(self, tok: _Tok | None) -> int:
        return self.lexer.line(tok.start if tok else len(self.lexer.text))

    def body(self, closing: bool) -> Body:
        body = Body()
        while True:
            tok = self.peek()
            if tok is None:
                if closing:
                    raise HclSyntaxError("block is not closed (missing '}')", self.line(tok))
                return body
            if tok.kind == "nl":
                self.i += 1
                continue
            if tok.value == "}" and closing:
                self.i += 1
                return body
            if tok.kind != "ident":
                raise HclSyntaxError(f"expected an argument or block name, got {tok.value!r}",
                                     self.line(tok))
            body.items.append(self.item())

    def item(self) -> Attribute | Block:
        name = self.toks[self.i]
        self.i += 1
        nxt = self.peek()
        if nxt is not None and nxt.value == "=" and nxt.kind == "op":
            self.i += 1
            return Attribute(name.value, self.line(name), self.expression())
        labels: list[str] = []
        while (tok := self.peek()) is not None and tok.kind in {"str", "ident"}:
            labels.append(tok.value[1:-1] if tok.kind == "str" else tok.value)
            self.i += 1
        tok = self.peek()
        if tok is None or tok.value != "{":
            raise HclSyntaxError(f"expected '=' or '{{' after {name.value!r}", self.line(name))
        self.i += 1
        return Block(name.value, labels, self.line(name), self.body(closing=True))

    def expression(self) -> str:
        """Source text of an expression: up to a newline (or the enclosing `}`) outside
        brackets."""
        start_tok = self.peek()
        if start_tok is None:
            raise HclSyntaxError("missing value after '='", self.line(start_tok))
        stack: list[str] = []
        end = start_tok.start
        while (tok := self.peek()) is not None:
            if not stack and (tok.kind == "nl" or tok.value == "}"):
                break
            if tok.value in _OPEN and tok.kind == "op":
                stack.append(_OPEN[tok.value])
            elif tok.value in {")", "]", "}"} and (not stack or stack.pop() != tok.value):
                raise HclSyntaxError(f"unbalanced {tok.value!r}", self.line(tok))
            end = tok.end
            self.i += 1
        if stack:
            raise HclSyntaxError(f"missing {stack[-1]!r}", self.line(start_tok))
        text = self.lexer.text[start_tok.start:end].strip()
        if not text:
            raise HclSyntaxError("missing value after '='", self.line(start_tok))
        return text


def parse_body(text: str) -> Body:
    """The top-level body of one .tf file; raises HclSyntaxError."""
    return _Parser(text).body(closing=False)
