"""The exceptions stockmesh raises, as one tree.

    StockmeshError
     ├── InvalidInput            a command or file is malformed: names the field (and line, when known)
     ├── DomainError             the command is well formed but breaks a business rule
     │    ├── UnknownEntity      an unknown SKU, site, reservation, transfer or purchase order
     │    ├── AlreadyExists      registering something twice with other attributes
     │    ├── InsufficientStock  the move would take available stock below zero
     │    └── InvalidTransition  e.g. a transfer received twice, a closed order received
     ├── IdempotencyConflict     an idempotency key reused with another payload
     ├── ConcurrencyError        an expected stream version did not match (a retry may succeed)
     └── LedgerError             the store itself: unreachable, corrupt, or its chain broken

Errors from drivers (sqlite3, psycopg) are translated into ``LedgerError`` at the adapter boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class StockmeshError(Exception):
    """Base of every error stockmesh raises on purpose."""


class InvalidInput(StockmeshError):
    """Malformed input. ``field`` names the offending field; ``line`` is set by file readers."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.field = field
        self.line = line
        super().__init__(self.__str__())

    def at_line(self, line: int) -> InvalidInput:
        return type(self)(self.message, field=self.field, line=line)

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DomainError(StockmeshError):
    """A well-formed command that breaks a business rule. ``field`` names the culprit when one does."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class UnknownEntity(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class InsufficientStock(DomainError):
    pass


class InvalidTransition(DomainError):
    pass


class IdempotencyConflict(StockmeshError):
    """The idempotency key was used before with a different payload."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.field = "idempotency_key"
        super().__init__(f"idempotency key {key!r} was already used with a different payload")


class ConcurrencyError(StockmeshError):
    """A stream moved on between reading and appending."""


class LedgerError(StockmeshError):
    """The store failed or holds something it should not (a broken chain, a gap)."""


class Problem(NamedTuple):
    """One reason an input was refused: its line (None where the input has no lines, or the error
    names it) and the error, which names the field or path (``epcisBody.eventList[3].bizStep``,
    ``segment 7 SE01``)."""

    line: int | None
    error: StockmeshError

    @property
    def field(self) -> str | None:
        return getattr(self.error, "field", None)

    @property
    def message(self) -> str:
        return getattr(self.error, "message", None) or str(self.error)

    def __str__(self) -> str:
        if self.line is None or getattr(self.error, "line", None) is not None:
            return str(self.error)
        return f"line {self.line}: {self.error}"


class Rejected(StockmeshError):
    """An inbound input refused as a whole (a command file, an EPCIS document, an X12 interchange, a
    snapshot): nothing of it was written. ``errors`` lists every problem found, in input order, each a
    ``Problem`` (line, error) that also reads like its error (``.field``, ``.message``, ``str``);
    ``error`` is the first one's error. ``summary`` replaces the first error in the message."""

    def __init__(self, errors: Iterable[Problem | StockmeshError], *, summary: str | None = None) -> None:
        self.errors = [e if isinstance(e, Problem) else Problem(getattr(e, "line", None), e) for e in errors]
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 and summary is None else ""
        first = self.errors[0] if self.errors else "refused"
        super().__init__(f"{summary or first}{more}; nothing written")

    @property
    def error(self) -> StockmeshError:
        return self.errors[0].error
