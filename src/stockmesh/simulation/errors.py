"""Errors of the digital twin. ``ScenarioError`` is an ``InvalidInput`` whose field is the YAML path."""

from __future__ import annotations

from stockmesh.domain.errors import InvalidInput


class ScenarioError(InvalidInput):
    """A scenario file is malformed or describes an impossible network.

    ``str(error)`` reads ``network.stores[3].supplied_by: unknown site 'DC-9'``.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message, field=path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def at_line(self, line: int) -> ScenarioError:
        return self
