"""Tokens of filter expressions: names, operators, values, `&`, `|` and parentheses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from db.query.errors import ExpressionError

TokenKind = Literal["NAME", "OP", "VALUE", "AND", "OR", "LPAREN", "RPAREN", "JUNK", "END"]

# Longest first so `<=` wins over `<` and `!~=` over `!=`.
OPERATORS = ("!~=", "!?=", "<=", ">=", "!=", "~=", "?=", "=", "<", ">")
NO_VALUE = frozenset({"?=", "!?="})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_BARE_END = "&|)"
_STOP = "&|()<>=!~?"


@dataclass(frozen=True)
class Token:
    """One token: its kind, its text in the expression, where it starts, its value."""

    kind: TokenKind
    text: str
    pos: int
    value: str = ""


def _quoted(expr: str, pos: int) -> tuple[str, int]:
    """The text of the quoted value starting at `pos` and the position after its closing quote."""
    quote = expr[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(expr):
        ch = expr[i]
        if ch == "\\" and i + 1 < len(expr):
            out.append(expr[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ExpressionError("unterminated quoted value", expr, pos, len(expr) - pos)


def _value(expr: str, pos: int, op: Token) -> tuple[Token, int]:
    """The value after an operator: quoted ("…" or '…') or bare up to `&`, `|`, `)` or the end."""
    while pos < len(expr) and expr[pos].isspace():
        pos += 1
    if pos < len(expr) and expr[pos] in "\"'":
        text, end = _quoted(expr, pos)
        return Token("VALUE", expr[pos:end], pos, text), end
    end = pos
    while end < len(expr) and expr[end] not in _BARE_END:
        end += 1
    text = expr[pos:end].rstrip()
    if not text:
        raise ExpressionError(
            f"expected a value after {op.text!r} (quote it for text with spaces; "
            "use ?= / !?= to test for empty)",
            expr,
            pos,
        )
    return Token("VALUE", text, pos, text), end


def tokenize(expr: str) -> list[Token]:
    """The tokens of `expr` ending with END; runs of stray characters become JUNK tokens."""
    tokens: list[Token] = []
    pos = 0
    singles = {"&": "AND", "|": "OR", "(": "LPAREN", ")": "RPAREN"}
    while pos < len(expr):
        ch = expr[pos]
        if ch.isspace():
            pos += 1
            continue
        if ch in singles:
            tokens.append(Token(singles[ch], ch, pos))  # type: ignore[arg-type]
            pos += 1
            continue
        op = next((o for o in OPERATORS if expr.startswith(o, pos)), None)
        if op is not None:
            token = Token("OP", op, pos, op)
            tokens.append(token)
            pos += len(op)
            if op not in NO_VALUE:
                value, pos = _value(expr, pos, token)
                tokens.append(value)
            continue
        match = _NAME.match(expr, pos)
        if match:
            tokens.append(Token("NAME", match.group(), pos, match.group()))
            pos = match.end()
            continue
        end = pos + 1
        while end < len(expr) and not expr[end].isspace() and expr[end] not in _STOP:
            end += 1
        tokens.append(Token("JUNK", expr[pos:end], pos, expr[pos:end]))
        pos = end
    tokens.append(Token("END", "", len(expr)))
    return tokens
