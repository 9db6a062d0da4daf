"""Expression errors that point at the bad token with a caret and list the valid names."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from core.errors import QueryError


class ExpressionError(QueryError):
    """A filter or sort expression is invalid at `position`; `valid_names` lists what fits."""

    def __init__(
        self,
        problem: str,
        expression: str,
        position: int,
        length: int = 1,
        valid_names: Sequence[str] = (),
    ) -> None:
        self.problem = problem
        self.expression = expression
        self.position = max(0, min(position, len(expression)))
        self.length = max(1, length)
        self.valid_names = list(valid_names)
        super().__init__(self._render())

    def _render(self) -> str:
        """The message: the problem, the expression, a caret line and the valid names."""
        token = self.expression[self.position:self.position + self.length]
        close = difflib.get_close_matches(token, self.valid_names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close and close[0] != token else ""
        lines = [
            self.problem + hint,
            f"  {self.expression}",
            "  " + " " * self.position + "^" * self.length,
        ]
        if self.valid_names:
            lines.append("valid names: " + ", ".join(self.valid_names))
        return "\n".join(lines)
