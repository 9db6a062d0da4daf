"""Expression errors that point at the bad token with a caret and list the valid names."""

from __future__ import annotations

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
        lines = [
            self.problem,
            f"  {self.expression}",
            "  " + " " * self.position + "^" * self.length,
        ]
        if self.valid_names:
            lines.append("valid names: " + ", ".join(self.valid_names))
        return "\n".join(lines)
