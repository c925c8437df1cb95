"""The message bus port, and the in-process bus that is its default implementation.

A message is published on a *subject* with a ``message_id``; the bus keeps one copy per id inside
its de-duplication window (the outbox relay retries with the same id, so a retry after a lost
acknowledgement does not publish twice). Subjects are partitioned by site:
``stockmesh.<topic>.<site-token>``, so a consumer can follow one site (``stockmesh.*.STORE-1``)
or everything (``stockmesh.>``).

Consumers are *durable*: a named consumer remembers which messages it has acknowledged, and a
message whose handler fails (or whose consumer dies before acknowledging) is delivered again.
Delivery is therefore at least once; the consuming side applies a message once through the inbox
(``service.inbox``), which turns the message id into command idempotency keys.

    BusError                 (a StockmeshError)
     └── BusUnavailable      the transport is down or timed out: retry later, nothing is lost

Implementations: ``service.inprocess_bus.InProcessBus`` (tests, the twin, a single-process
deployment) and ``adapters.nats_bus.NatsBus`` (NATS JetStream); ``tests/contract/test_bus.py`` holds
both to the same contract. How a consumer is attached differs (the in-process bus is pumped, NATS
consumes on a thread of its own), so the port is the publishing side, which the outbox relay uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from stockmesh.domain.errors import StockmeshError

SUBJECT_ROOT = "stockmesh"
_SUBJECT_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A", ">": "%3E", " ": "%20"}


class BusError(StockmeshError):
    """The bus refused or failed an operation."""


class BusUnavailable(BusError):
    """The transport is unreachable or did not acknowledge in time; the operation may be retried."""


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One message as a consumer sees it. ``deliveries`` counts this delivery (1 = first)."""

    subject: str
    message_id: str
    payload: bytes
    deliveries: int = 1
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[BusMessage], None]


def site_token(site: str | None) -> str:
    """A site id as one subject token (dots, wildcards and spaces escaped); ``_`` when unknown."""
    if not site:
        return "_"
    return "".join(_SUBJECT_ESCAPES.get(ch, ch) for ch in site)


def subject_for(topic: str, site: str | None, root: str = SUBJECT_ROOT) -> str:
    """``stockmesh.<topic>.<site>``: e.g. ``stockmesh.purchase_order.placed.STORE-LYON-02``."""
    return f"{root}.{topic}.{site_token(site)}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard semantics: ``*`` matches one token, a final ``>`` one or more."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (tok != "*" and tok != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


@runtime_checkable
class Bus(Protocol):
    """Publish with de-duplication by ``message_id``: what the outbox relay needs to hand its
    messages on at least once and have them stored once. Consumers are durable (see above)."""

    def publish(self, subject: str, payload: bytes, *, message_id: str) -> bool:
        """Publish once per ``message_id``: True when stored, False when it was a duplicate.
        Raises ``BusUnavailable`` when the transport did not acknowledge."""
        ...

    def publish_many(self, messages: Sequence[tuple[str, bytes, str]]) -> list[BaseException | bool]:
        """Publish ``(subject, payload, message_id)`` items; per item the ``publish`` result or the
        error it raised (so one failure does not hide the others' outcome)."""
        ...

    def close(self) -> None: ...
