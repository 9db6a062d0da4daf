"""Parse filter expressions (`&`, `|`, parentheses) and sort expressions into nodes."""

from __future__ import annotations

from db.query.columns import ColumnSpec, resolve, valid_names
from db.query.errors import ExpressionError
from db.query.lexer import NO_VALUE, Token, tokenize
from db.query.nodes import And, Condition, Node, Or, SortKey

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_TEXT_ONLY = {"~=", "!~="}
_BOOL_OPS = {"=", "!=", "?=", "!?="}


class _Parser:
    """Recursive descent: or := and ('|' and)*; and := atom ('&' atom)*; atom := (or) | cond."""

    def __init__(self, expr: str, scope: str) -> None:
        self.expr = expr
        self.scope = scope
        self.tokens = tokenize(expr)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, problem: str, token: Token, names: bool = False) -> ExpressionError:
        length = max(1, len(token.text))
        listed = valid_names(self.scope) if names else ()
        return ExpressionError(problem, self.expr, token.pos, length, listed)

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token.kind != "END":
            raise self.fail(f"unexpected {token.text!r}; expected '&', '|' or the end", token)
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.atom()]
        while self.peek().kind == "AND":
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def atom(self) -> Node:
        token = self.peek()
        if token.kind == "LPAREN":
            self.take()
            node = self.or_expr()
            close = self.peek()
            if close.kind != "RPAREN":
                raise self.fail(f"expected ')' to close the '(' at {token.pos}", close)
            self.take()
            return node
        if token.kind == "NAME":
            return self.condition()
        if token.kind == "END":
            raise self.fail("expected a condition (name, operator, value) at the end", token)
        raise self.fail(f"expected a column name, found {token.text!r}", token, names=True)

    def condition(self) -> Condition:
        name = self.take()
        spec = resolve(name.text, self.scope)
        if spec is None:
            raise self.fail(f"unknown column {name.text!r} in {self.scope}", name, names=True)
        op = self.peek()
        if op.kind != "OP":
            raise self.fail(
                f"expected an operator (<= >= != = < > ~= !~= ?= !?=) after {name.text!r}", op
            )
        self.take()
        if op.text in _TEXT_ONLY and spec.kind != "text":
            raise self.fail(f"{op.text} needs a text column; {spec.name} is not text", op)
        if spec.kind == "bool" and op.text not in _BOOL_OPS:
            raise self.fail(f"{spec.name} is true/false: use = or !=", op)
        if op.text in NO_VALUE:
            return Condition(spec, op.text, None, name.pos)
        value = self.take()
        return Condition(spec, op.text, self.convert(spec, value), name.pos)

    def convert(self, spec: ColumnSpec, token: Token) -> str | float | bool:
        """The token's value as the column's kind: a float, a bool, or the text."""
        text = token.value
        if spec.kind == "num":
            try:
                return float(text)
            except ValueError:
                raise self.fail(f"{spec.name} is a number; {text!r} is not", token) from None
        if spec.kind == "bool":
            low = text.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise self.fail(f"{spec.name} is true/false; {text!r} is not", token)
        return text


def parse_filter(expr: str | None, scope: str) -> Node | None:
    """The filter's tree, or None for an empty filter; ExpressionError when invalid."""
    if expr is None or not expr.strip():
        return None
    return _Parser(expr, scope).parse()


def _sort_key(expr: str, part: str, start: int, scope: str) -> SortKey:
    """One `key=asc|desc[=trim]` or `random=SEED[=trim]` stage of a sort expression."""
    raw = part.split("=")
    pos, fields = [], []
    offset = start
    for f in raw:
        pos.append(offset + len(f) - len(f.lstrip()))
        fields.append(f.strip())
        offset += len(f) + 1
    name = fields[0]
    if len(fields) not in (2, 3) or not all(fields):
        raise ExpressionError(
            f"expected key=asc|desc[=trim] or random=SEED, found {part.strip()!r}",
            expr,
            pos[0],
            len(part.strip()),
        )
    trim = None
    if len(fields) == 3:
        try:
            trim = float(fields[2])
        except ValueError:
            trim = -1.0
        if not trim > 0:
            raise ExpressionError(
                "a trim is a fraction in (0,1] or a count above 1", expr, pos[2], len(fields[2])
            )
    if name.lower() == "random":
        try:
            seed = int(fields[1])
        except ValueError:
            raise ExpressionError(
                "random takes an integer seed", expr, pos[1], len(fields[1])
            ) from None
        return SortKey(None, False, trim, seed)
    spec = resolve(name, scope)
    if spec is None:
        raise ExpressionError(
            f"unknown column {name!r} in {scope}", expr, pos[0], len(name), valid_names(scope)
        )
    direction = fields[1].lower()
    if direction not in ("asc", "desc"):
        raise ExpressionError(
            f"sort direction is asc or desc, not {fields[1]!r}", expr, pos[1], len(fields[1])
        )
    return SortKey(spec, direction == "desc", trim)


def parse_sort(expr: str | None, scope: str) -> list[SortKey]:
    """The stages of `key=asc|desc[=trim]&…` (applied in turn); empty for an empty sort."""
    if expr is None or not expr.strip():
        return []
    keys: list[SortKey] = []
    start = 0
    for part in expr.split("&"):
        if not part.strip():
            raise ExpressionError("empty sort stage (dangling '&')", expr, start)
        keys.append(_sort_key(expr, part, start, scope))
        start += len(part) + 1
    return keys
