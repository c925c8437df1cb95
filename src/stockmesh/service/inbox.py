"""The inbox: an inbound message applies once, however often it is delivered.

The ledger already keeps every command idempotency key for good, and ``execute`` treats a key
seen with the same payload as a no-op inside the writer lock. So the inbox needs no table of its
own: it maps a message id to the keys of the commands it carries (``<source>:<message id>#<n>``)
and writes them all or nothing. A second delivery, concurrent or a day later, finds the keys and
writes nothing; the same message id with other content is an ``IdempotencyConflict``.

Errors split in two for a bus consumer (``message_handler``): a malformed message or a key
conflict will never succeed, so it is acknowledged and reported (``on_rejected``); a business-rule
failure (e.g. a receipt for a transfer whose dispatch has not arrived yet) or a ledger failure is
raised, so the bus redelivers it later and, past its delivery limit, parks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import IdempotencyConflict, InvalidInput, StockmeshError
from stockmesh.ledger.port import EventStore
from stockmesh.service.bulk.command_file import loads_command_json
from stockmesh.service.bus import BusMessage, Handler
from stockmesh.service.execute import BatchRejected, execute

_KEY_MAX = 200


@dataclass(slots=True)
class InboxResult:
    """What became of one message: ``applied``, ``duplicate`` (every command was seen before) or
    ``rejected`` (``error`` says why; nothing written)."""

    message_id: str
    status: str
    commands: int = 0
    events: int = 0
    error: StockmeshError | None = None


def inbox_key(source: str, message_id: str, index: int) -> str:
    """The idempotency key of command ``index`` of a message; long or odd ids are hashed."""
    key = f"{source}:{message_id}#{index}"
    if len(key) <= _KEY_MAX and key.isprintable():
        return key
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:40]
    return f"{source[:100]}:sha256:{digest}#{index}"


class Inbox:
    """Applies inbound messages (lists of command objects) to the ledger exactly once."""

    def __init__(self, store: EventStore, source: str = "inbox") -> None:
        self.store = store
        self.source = source

    def commands_for(self, message_id: str, objects: Sequence[Mapping[str, Any]]) -> tuple[list[Command],
                                                                                          list[dict[str, Any]]]:
        """Validate the command objects, giving each its inbox key. Raises ``InvalidInput``."""
        commands: list[Command] = []
        payloads: list[dict[str, Any]] = []
        for index, obj in enumerate(objects):
            if not isinstance(obj, Mapping):
                raise InvalidInput("each command must be a JSON object", field=f"commands[{index}]")
            payload = {k: v for k, v in obj.items() if k != "idempotency_key"}
            payload["idempotency_key"] = inbox_key(self.source, message_id, index)
            try:
                commands.append(parse_command(payload))
            except InvalidInput as exc:
                field = f"commands[{index}].{exc.field}" if exc.field else f"commands[{index}]"
                raise InvalidInput(exc.message, field=field) from exc
            payloads.append(payload)
        return commands, payloads

    def apply(self, message_id: str, objects: Sequence[Mapping[str, Any]], *,
              metadata: Mapping[str, Any] | None = None) -> InboxResult:
        """Apply one message's commands all or nothing. Business-rule and ledger errors raise
        (``BatchRejected``, ``LedgerError``); malformed input is returned as ``rejected``."""
        try:
            commands, payloads = self.commands_for(message_id, objects)
        except InvalidInput as exc:
            return InboxResult(message_id, "rejected", len(objects), error=exc)
        if not commands:
            return InboxResult(message_id, "duplicate")
        meta = {"source": self.source, "message_id": message_id, **(metadata or {})}
        try:
            outcomes = execute(self.store, commands, metadata=meta)
        except BatchRejected as exc:
            if isinstance(exc.error, IdempotencyConflict):
                return InboxResult(message_id, "rejected", len(commands), error=exc.error)
            raise
        applied = [o for o in outcomes if o.status == "applied"]
        status = "applied" if applied else "duplicate"
        return InboxResult(message_id, status, len(commands), sum(o.events for o in applied))


def decode_commands(payload: bytes) -> list[Mapping[str, Any]]:
    """A message body as command objects: ``{"commands": [...]}``, a list, or one object."""
    try:
        body = loads_command_json(payload)
    except InvalidInput as exc:
        if exc.field is None:
            raise InvalidInput(f"message is not JSON: {exc.message}", field="payload") from None
        raise
    if isinstance(body, Mapping) and "commands" in body:
        body = body["commands"]
    if isinstance(body, Mapping):
        return [body]
    if isinstance(body, list):
        return body
    raise InvalidInput("message must be a command object, a list of them, or {\"commands\": [...]}",
                       field="payload")


def message_handler(inbox: Inbox, *, on_result: Callable[[InboxResult], None] | None = None,
                    on_rejected: Callable[[BusMessage, StockmeshError], None] | None = None) -> Handler:
    """A bus handler applying each message through ``inbox``; see the module docstring for which
    failures are acknowledged (never retried) and which are raised for redelivery."""

    def handle(message: BusMessage) -> None:
        try:
            objects = decode_commands(message.payload)
        except InvalidInput as exc:
            if on_rejected is not None:
                on_rejected(message, exc)
            return
        result = inbox.apply(message.message_id, objects, metadata={"subject": message.subject})
        if result.status == "rejected" and on_rejected is not None and result.error is not None:
            on_rejected(message, result.error)
        if on_result is not None:
            on_result(result)

    return handle
