"""Commands: what someone asks the ledger to do. Imperative names, frozen keyword-only dataclasses.

Every command carries an ``idempotency_key`` and may carry ``occurred_at`` (business time, possibly
in the past) and ``actor``. ``parse_command`` turns one JSON object into a command, refusing
anything malformed with an ``InvalidInput`` that names the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.model import NegativeStockPolicy, SiteKind

MAX_QTY = 10**12
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#+\-]{0,127}")
_TEXT_MAX = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    name: ClassVar[str] = ""
    idempotency_key: str
    occurred_at: str | None = None
    actor: str | None = None

    def payload(self) -> dict[str, Any]:
        """The command as the JSON object it was given as (without empty optional fields)."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        out: dict[str, Any] = {"command": self.name}
        for name in names:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterSku(Command):
    name: ClassVar[str] = "RegisterSku"
    sku: str
    unit_cost: float = 0.0
    pack_size: int = 1
    shelf_life_days: int | None = None
    base_unit: str = "each"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterSite(Command):
    name: ClassVar[str] = "RegisterSite"
    site: str
    kind: str = SiteKind.STORE.value
    negative_stock: str = NegativeStockPolicy.REJECT.value


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiveStock(Command):
    name: ClassVar[str] = "ReceiveStock"
    sku: str
    site: str
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ShipStock(Command):
    """A sale or an issue: units leave the site."""

    name: ClassVar[str] = "ShipStock"
    sku: str
    site: str
    qty: int
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AdjustStock(Command):
    name: ClassVar[str] = "AdjustStock"
    sku: str
    site: str
    delta: int
    reason: str
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordCount(Command):
    """A cycle count: the counted quantity replaces the book quantity; the variance is recorded."""

    name: ClassVar[str] = "RecordCount"
    sku: str
    site: str
    counted: int
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReserveStock(Command):
    name: ClassVar[str] = "ReserveStock"
    reservation_id: str
    sku: str
    site: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseReservation(Command):
    name: ClassVar[str] = "ReleaseReservation"
    reservation_id: str
    qty: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FulfilReservation(Command):
    name: ClassVar[str] = "FulfilReservation"
    reservation_id: str
    qty: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DispatchTransfer(Command):
    name: ClassVar[str] = "DispatchTransfer"
    transfer_id: str
    sku: str
    from_site: str
    to_site: str
    qty: int
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiveTransfer(Command):
    name: ClassVar[str] = "ReceiveTransfer"
    transfer_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DeclareTransferLoss(Command):
    """Units dispatched that will never arrive: they leave the network's in-transit stock."""

    name: ClassVar[str] = "DeclareTransferLoss"
    transfer_id: str
    qty: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PlacePurchaseOrder(Command):
    name: ClassVar[str] = "PlacePurchaseOrder"
    po_id: str
    sku: str
    site: str
    supplier: str
    qty: int
    expected_at: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivePurchaseOrder(Command):
    name: ClassVar[str] = "ReceivePurchaseOrder"
    po_id: str
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelPurchaseOrder(Command):
    """Cancels what is still open on the order."""

    name: ClassVar[str] = "CancelPurchaseOrder"
    po_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpeditePurchaseOrder(Command):
    """Ask the supplier to ship an open order by a faster mode (a late order, a stock-out ahead).

    ``mode`` names the transport mode (``expedited``); ``expected_at`` is the new expected arrival
    when it is known. The order's quantities do not change; the extra cost is the proposal's value."""

    name: ClassVar[str] = "ExpeditePurchaseOrder"
    po_id: str
    mode: str = "expedited"
    expected_at: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QuarantineStock(Command):
    name: ClassVar[str] = "QuarantineStock"
    sku: str
    site: str
    qty: int
    lot: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseQuarantine(Command):
    name: ClassVar[str] = "ReleaseQuarantine"
    sku: str
    site: str
    qty: int
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpireLot(Command):
    """Writes off what is left of a lot, on hand and in quarantine."""

    name: ClassVar[str] = "ExpireLot"
    sku: str
    site: str
    lot: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordBackorder(Command):
    """Customer demand that could not ship and waits for stock."""

    name: ClassVar[str] = "RecordBackorder"
    sku: str
    site: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class FillBackorder(Command):
    """Ships units against open backorders."""

    name: ClassVar[str] = "FillBackorder"
    sku: str
    site: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordSales(Command):
    """A batch of sales at one site (a POS day, an EDI 852): one ``StockShipped`` per line.

    Idempotent and atomic as a whole: one key for the batch, and if any line breaks a rule the
    batch is refused with the line named (``lines[3].qty``)."""

    name: ClassVar[str] = "RecordSales"
    site: str
    lines: tuple[tuple[str, int], ...]


COMMANDS: dict[str, type[Command]] = {
    c.name: c
    for c in (
        RegisterSku, RegisterSite, ReceiveStock, ShipStock, AdjustStock, RecordCount, ReserveStock,
        ReleaseReservation, FulfilReservation, DispatchTransfer, ReceiveTransfer, DeclareTransferLoss,
        PlacePurchaseOrder, ReceivePurchaseOrder, CancelPurchaseOrder, ExpeditePurchaseOrder, QuarantineStock,
        ReleaseQuarantine, ExpireLot, RecordBackorder, FillBackorder, RecordSales,
    )
}


# --- field validators: each returns the clean value or raises InvalidInput naming the field ----------

_id_match = ID_PATTERN.fullmatch


def _identifier(name: str, value: Any) -> str:
    if type(value) is not str:
        raise InvalidInput(f"must be a string, got {type(value).__name__}", field=name)
    if _id_match(value) is None:
        raise InvalidInput(
            "must be 1-128 characters of A-Z a-z 0-9 and . _ : / # + - (starting with a letter or digit)",
            field=name,
        )
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _key(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput("must be a non-empty string of at most 200 characters", field=name)
    if _CONTROL.search(value):
        raise InvalidInput("must not contain control characters", field=name)
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a non-empty string", field=name)
    if len(value) > _TEXT_MAX:
        raise InvalidInput(f"must be at most {_TEXT_MAX} characters", field=name)
    if _CONTROL_BUT_TAB.search(value):
        raise InvalidInput("must not contain control characters", field=name)
    return value


def _integer(name: str, value: Any) -> int:
    # bool is an int in Python; "12" and 12.0 are not quantities.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"must be an integer, got {type(value).__name__} {value!r}"[:120], field=name)
    if abs(value) > MAX_QTY:
        raise InvalidInput(f"must be at most {MAX_QTY} in magnitude", field=name)
    return value


def _positive(name: str, value: Any) -> int:
    if type(value) is int and 0 < value <= MAX_QTY:  # the common case, checked first
        return value
    number = _integer(name, value)
    if number <= 0:
        raise InvalidInput(f"must be a positive integer, got {number}", field=name)
    return number


def _non_negative(name: str, value: Any) -> int:
    number = _integer(name, value)
    if number < 0:
        raise InvalidInput(f"must be zero or more, got {number}", field=name)
    return number


def _non_zero(name: str, value: Any) -> int:
    number = _integer(name, value)
    if number == 0:
        raise InvalidInput("must not be zero", field=name)
    return number


def _money(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"must be a number, got {type(value).__name__}", field=name)
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or value > MAX_QTY:
        raise InvalidInput(f"must be a finite number between 0 and {MAX_QTY}", field=name)
    return float(value)


def parse_instant(name: str, value: Any) -> str:
    """ISO 8601 date or date-time; naive times are UTC. Returned normalised, e.g. 2026-03-01T00:00:00+00:00."""
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInput("must be an ISO 8601 date or date-time string", field=name)
    normalised = _INSTANTS.get(value)
    if normalised is not None:  # a batch repeats the same few business times
        return normalised
    normalised = _parse_instant(name, value)
    if len(_INSTANTS) > 4096:
        _INSTANTS.clear()
    _INSTANTS[value] = normalised
    return normalised


_INSTANTS: dict[str, str] = {}


def _parse_instant(name: str, value: str) -> str:
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"is not an ISO 8601 date or date-time: {value!r}", field=name) from None
    if not 1900 <= moment.year <= 2200:
        raise InvalidInput(f"year {moment.year} is out of range", field=name)
    return moment.isoformat()


def _date(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInput("must be an ISO 8601 date string", field=name)
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise InvalidInput(f"is not an ISO 8601 date: {value!r}", field=name) from None


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise InvalidInput(f"must be one of {', '.join(options)}; got {value!r}"[:160], field=name)
        return str(value)

    return check


def _pack(name: str, value: Any) -> int:
    number = _positive(name, value)
    if number > 10**6:
        raise InvalidInput("must be at most 1000000", field=name)
    return number


def _days(name: str, value: Any) -> int:
    number = _positive(name, value)
    if number > 36500:
        raise InvalidInput("must be at most 36500 days", field=name)
    return number


def _unit(name: str, value: Any) -> str:
    text = _text(name, value)
    if len(text) > 20:
        raise InvalidInput("must be at most 20 characters", field=name)
    return text


MAX_LINES = 100_000


def _sales_lines(name: str, value: Any) -> tuple[tuple[str, int], ...]:
    """``[{"sku": "A", "qty": 3}, ...]``: each line a known shape, at least one, at most MAX_LINES."""
    if not isinstance(value, list) or not value:
        raise InvalidInput("must be a non-empty list of {\"sku\": ..., \"qty\": ...} objects", field=name)
    if len(value) > MAX_LINES:
        raise InvalidInput(f"must have at most {MAX_LINES} lines", field=name)
    out = []
    for i, line in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(line, Mapping):
            raise InvalidInput("must be an object with sku and qty", field=where)
        unknown = set(line) - {"sku", "qty"}
        if unknown:
            raise InvalidInput("unknown field", field=f"{where}.{sorted(unknown)[0][:40]}")
        if "sku" not in line or "qty" not in line:
            raise InvalidInput("needs sku and qty", field=where)
        out.append((_identifier(f"{where}.sku", line["sku"]), _positive(f"{where}.qty", line["qty"])))
    return tuple(out)


Validator = Callable[[str, Any], Any]

_VALIDATORS: dict[str, Validator] = {
    "idempotency_key": _key,
    "occurred_at": parse_instant,
    "actor": _key,
    "sku": _identifier,
    "site": _identifier,
    "from_site": _identifier,
    "to_site": _identifier,
    "supplier": _identifier,
    "reservation_id": _identifier,
    "transfer_id": _identifier,
    "po_id": _identifier,
    "lot": _identifier,
    "qty": _positive,
    "counted": _non_negative,
    "delta": _non_zero,
    "reason": _text,
    "unit_cost": _money,
    "pack_size": _pack,
    "shelf_life_days": _days,
    "base_unit": _unit,
    "kind": _choice(tuple(k.value for k in SiteKind)),
    "negative_stock": _choice(tuple(p.value for p in NegativeStockPolicy)),
    "expiry": _date,
    "expected_at": parse_instant,
    "lines": _sales_lines,
    "mode": _identifier,
}

_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
for _name, _cls in COMMANDS.items():
    _all = {f.name for f in fields(_cls)}
    _required = frozenset(
        f.name for f in fields(_cls)
        if f.default is f.default_factory  # both MISSING: no default
    )
    _FIELDS[_name] = (_required, frozenset(_all))


def parse_command(obj: Any) -> Command:
    """Validate one JSON object and build its command. Unknown fields are refused, not ignored."""
    if not isinstance(obj, Mapping):
        raise InvalidInput("a command must be a JSON object")
    name = obj.get("command")
    if not isinstance(name, str):
        raise InvalidInput("missing or non-string command name", field="command")
    cls = COMMANDS.get(name)
    if cls is None:
        raise InvalidInput(f"unknown command {name[:60]!r}", field="command")
    required, allowed = _FIELDS[name]
    clean: dict[str, Any] = {}
    validators = _VALIDATORS
    for key, value in obj.items():
        if key == "command":
            continue
        if key not in allowed:
            raise InvalidInput(f"unknown field for {name}", field=str(key)[:60])
        if value is None:
            if key in required:
                raise InvalidInput("is required", field=key)
            continue
        clean[key] = validators[key](key, value)
    if not required <= clean.keys():
        for key in sorted(required):
            if key not in clean:
                raise InvalidInput(f"is required for {name}", field=key)
    if "expiry" in clean and "lot" not in clean:
        raise InvalidInput("an expiry needs a lot", field="expiry")
    if name == "DispatchTransfer" and clean["from_site"] == clean["to_site"]:
        raise InvalidInput("must differ from from_site", field="to_site")
    return cls(**clean)


def validated(command: Command) -> Command:
    """The checks ``parse_command`` makes, for a command built in code (an agent's proposal): the
    clean command, or ``InvalidInput`` naming the field. The same rules, so a proposal's command
    is held to what a file's or a request's is."""
    payload = command.payload()
    if isinstance(command, RecordSales):
        payload["lines"] = [{"sku": sku, "qty": qty} for sku, qty in command.lines]
    return parse_command(payload)
