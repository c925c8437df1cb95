"""The exceptions stockmesh raises, as one tree (each in the module named beside it when not here).

    StockmeshError
     ├── InvalidInput              a command or file is malformed: names the field (and line, when known)
     │    ├── X12Error             adapters/x12: a malformed interchange (``segment 7 SE01``)
     │    ├── ScenarioError        simulation/errors: a scenario's YAML path and what is wrong there
     │    ├── AllocationInputError planning/allocation/errors: NaNs, negative costs, unknown sites
     │    ├── NotATreeError        planning/exact/gsm: the network is not a tree (also a ValueError)
     │    └── DemoLedgerRefused    entrypoints/demo_ledger: a ledger that is not the demo's to write
     ├── Rejected                  an inbound input refused as a whole, nothing written; ``errors``: its Problems
     │    └── BatchRejected        service/execute: the all-or-nothing batch's command ``index`` failed
     ├── DomainError               the command is well formed but breaks a business rule
     │    ├── UnknownEntity        an unknown SKU, site, reservation, transfer or purchase order
     │    ├── AlreadyExists        registering something twice with other attributes
     │    ├── InsufficientStock    the move would take available stock below zero
     │    └── InvalidTransition    e.g. a transfer received twice, a closed order received
     ├── IdempotencyConflict       an idempotency key reused with another payload
     ├── ConcurrencyError          an expected stream version did not match (a retry may succeed)
     ├── LedgerError               the store itself: unreachable, corrupt, or its chain broken
     │    ├── LedgerMissing        bootstrap: the URL names no ledger and none was to be created
     │    └── HeadSignatureError   ledger/chain: the head a write would extend is not signed as it must be
     ├── Unauthenticated           governance/auth: no token, or an unknown, revoked or expired one (401)
     ├── Forbidden                 governance/auth: the role or the token's sites do not allow it (403)
     ├── BusError                  service/bus: the bus refused or failed an operation
     │    └── BusUnavailable       service/bus: unreachable or no acknowledgement in time (retry)
     ├── DeliveryFailed            service/sink: a sink could not deliver (``permanent``: do not retry)
     ├── RateLimited               entrypoints/api/problems: too many requests (429, Retry-After)
     └── Busy                      entrypoints/api/problems: a bounded resource is in use (503, Retry-After)

Errors from drivers (sqlite3, psycopg, nats) are translated at the adapter boundary: into
``LedgerError`` for the stores, ``BusError`` for the bus, ``DeliveryFailed`` for the sinks. Two
private exceptions never leave their module: ``_Refused`` (governance/strict_yaml, the YAML
loader's own error, turned into ``InvalidInput`` there) and ``_InvalidLines`` (service/ingest,
raised into a transaction to roll it back). ``tests/unit/domain/test_errors.py`` holds the code to this
drawing.
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
