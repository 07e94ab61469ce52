"""Errors a person can act on: each names where the problem is and what to do next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in an input: `file:line` or `file row N`, the field, and what is wrong."""

    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        field = f" [{self.field}]" if self.field else ""
        return f"{self.where}{field}: {self.message}"


class UserError(Exception):
    """A problem the person running the command can fix; the CLI prints it without a traceback."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        lines = [self.message, *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class NotFound(UserError):
    """A campaign, contact or row named on the command line does not exist."""
