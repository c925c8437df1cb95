"""In: EPCIS events as ledger commands, by a declarative rule table (``RULES``).

An event that moves stock is classified by the first rule whose conditions all hold (its event
type, action, bizStep, disposition; a step that excludes it); the rule's ``build`` turns the
event's lines ((SKU, lot) -> base units, at its site) into command objects. Events that never
move stock (extension types, echoes of our export, error declarations, associations, ignored
steps) are answered before the table; a TransformationEvent has inputs and outputs of its own.
``plan`` maps a whole document and collects every error before raising; ``ingest`` writes its
commands all or nothing, each keyed ``epcis:<eventID>#<n>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stockmesh.adapters.epcis.mapping import EpcisMapping
from stockmesh.adapters.epcis.reading import (
    Quantities,
    Transfers,
    event_id,
    ilmd,
    iter_events,
    line_transfer,
    listed,
    transfer_id,
)
from stockmesh.adapters.epcis.vocabulary import (
    ADJUSTING,
    BIZSTEP_SPELLINGS,
    BIZSTEPS,
    COUNT_STEPS,
    DISPOSITION_SPELLINGS,
    DISPOSITIONS,
    EVENT_TYPES,
    QUARANTINE,
    RECEIPT_STEPS,
    RELEASE,
    SHIP_STEPS,
    SOURCE_DEST_SPELLINGS,
    WRITE_OFF_DISPOSITIONS,
    WRITE_OFF_STEPS,
    cbv_word,
    type_word,
)
from stockmesh.domain.commands import Command, parse_command, parse_instant
from stockmesh.domain.errors import InvalidInput, Rejected
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import BatchRejected, execute, tally
from stockmesh.service.inbox import inbox_key

Lines = list[tuple[tuple[str, str | None], int]]  # (sku, lot) -> base units, in the event's order

@dataclass(slots=True)
class EpcisEvent:
    """One event with the commands it maps to (none for an observation or an echo of ours)."""

    index: int
    event_id: str
    kind: str  # receipt, shipment, transfer_out, transfer_in, write_off, count, expiry, quarantine, ...
    commands: list[dict[str, Any]]
    echo: bool = False
    note: str | None = None
    where: str = ""  # its path in the document, e.g. epcisBody.eventList[3]


@dataclass(slots=True)
class EpcisReport:
    events: int = 0
    applied: int = 0  # commands written
    duplicates: int = 0  # commands already in the ledger (a re-sent event)
    observed: int = 0  # events with no effect on stock
    echoes: int = 0  # our own exported events coming back
    ledger_events: int = 0
    notes: list[str] = field(default_factory=list)


def _norm_vocab(value: Any, where: str, known: frozenset[str], custom: Mapping[str, str],
                spellings: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=where)
    if value in custom:
        return custom[value]
    value = cbv_word(value, spellings)
    if value in known or value == ADJUSTING:
        return value
    kind = where.rsplit(".", 1)[-1]
    raise InvalidInput(f"unknown {kind} {value!r}: not in the CBV 2.0 vocabulary nor the mapping's bizsteps"[:240],
                       field=where)


def _site_of(mapping: EpcisMapping, event: Mapping[str, Any], where: str) -> str:
    for name in ("bizLocation", "readPoint"):
        loc = event.get(name)
        if loc is None:
            continue
        if not isinstance(loc, Mapping) or not isinstance(loc.get("id"), str):
            raise InvalidInput("must be an object with an id", field=f"{where}.{name}")
        site = mapping.site(loc["id"])
        if site is None:
            raise InvalidInput(f"unknown location {loc['id']!r}: not in the mapping table"[:200],
                               field=f"{where}.{name}.id")
        return site
    raise InvalidInput("the event moves stock but names no bizLocation or readPoint", field=f"{where}.bizLocation")


def _our_site(mapping: EpcisMapping, event: Mapping[str, Any], list_name: str, key: str, where: str) -> str | None:
    for item in listed(event, list_name, where):
        if type_word(item, SOURCE_DEST_SPELLINGS) in ("location", None) and isinstance(item.get(key), str):
            site = mapping.site(item[key])
            if site is not None:
                return site
    return None


def _received(base: Any, units: Iterable[tuple[tuple[str, str | None], int]], site: str,
              event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ReceiveStock per line; objects without a lot of their own (SGTINs, GTINs) take the ILMD's lot,
    as commissioning events carry it, and a lot its expiry date."""
    ilmd_lot, expiry = ilmd(event, "lotNumber"), ilmd(event, "itemExpirationDate")
    return [base(command="ReceiveStock", sku=sku, site=site, qty=qty, lot=lot or ilmd_lot,
                 expiry=expiry if lot or ilmd_lot else None) for (sku, lot), qty in units]


def _declared_in_error(event: Mapping[str, Any], where: str, eid: str) -> str:
    declaration = event.get("errorDeclaration")
    reason = declaration.get("reason") if isinstance(declaration, Mapping) else None
    corrective = declaration.get("correctiveEventIDs") if isinstance(declaration, Mapping) else None
    said = f" (reason {reason})" if isinstance(reason, str) else ""
    fixes = (f"; its corrective events: {', '.join(str(c) for c in corrective)}"
             if isinstance(corrective, list) and corrective else "")
    return (f"{where}: declares event {eid} in error{said}: not applied, and an earlier import of that event "
            f"is not reversed{fixes}")[:400]


def _ledger_echo(event: Mapping[str, Any], store: EventStore | None) -> bool:
    marker = event.get("stockmesh:ledgerEvent")
    if store is None or not isinstance(marker, Mapping):
        return False
    position, digest = marker.get("position"), marker.get("hash")
    if not isinstance(position, int) or not 1 <= position <= store.head()[0] or not isinstance(digest, str):
        return False
    found = next(iter(store.read_all(after=position - 1, limit=1)), None)
    return found is not None and found.position == position and found.hash == digest


# --- the rule table ---------------------------------------------------------------------------

@dataclass(slots=True)
class Move:
    """What a rule's ``build`` reads: the event, its path, its CBV words, its lines at its site."""

    event: Mapping[str, Any]
    where: str
    step: str | None
    disposition: str | None
    action: str | None
    site: str
    lines: Lines
    quantity_list: str  # the field its quantities came from, for errors (quantityList, childQuantityList)
    mapping: EpcisMapping
    store: EventStore | None
    transfers: Transfers | None
    base: Callable[..., dict[str, Any]]  # a command object at the event's time, without empty fields


@dataclass(slots=True)
class Built:
    commands: list[dict[str, Any]]
    kind: str | None = None  # when the rule's kind turned out more precise (transfer_in, transfer_out)
    note: str | None = None


def _adjust(m: Move) -> Built:
    delta = m.event.get("stockmesh:delta")
    sign = -1 if isinstance(delta, int) and delta < 0 else 1
    reason = str(m.event.get("stockmesh:reason") or "EPCIS adjustment")
    return Built([m.base(command="AdjustStock", sku=s, site=m.site, delta=sign * q, lot=lot, reason=reason)
                  for (s, lot), q in m.lines])


def _write_off(m: Move) -> Built:
    reason = f"EPCIS {m.step or m.action}: {m.disposition or 'written off'}"
    return Built([m.base(command="AdjustStock", sku=s, site=m.site, delta=-q, lot=lot, reason=reason)
                  for (s, lot), q in m.lines])


def _receive(m: Move) -> Built:
    """A receipt; from one of our sites with a bizTransaction, the transfer lines it closes (the rest
    booked as receipts, with a note); quarantined too when received in a quarantine disposition."""
    source = _our_site(m.mapping, m.event, "sourceList", "source", m.where)
    plain = list(m.lines)
    cmds: list[dict[str, Any]] = []
    kind: str | None = None
    note: str | None = None
    if source is not None and source != m.site and listed(m.event, "bizTransactionList", m.where):
        transfer = transfer_id(m.event, m.where)
        cmds, plain = (m.transfers or Transfers(m.store)).receive(transfer, m.site, plain, m.base)
        if cmds:
            kind = "transfer_in"
        if plain:
            note = (f"{m.where}: no transfer {transfer!r} from {source} in transit to {m.site} for "
                    f"{', '.join(sorted({sku for (sku, _), _ in plain}))}: booked as a receipt")[:300]
    for receipt in _received(m.base, plain, m.site, m.event):
        cmds.append(receipt)
        if m.disposition in QUARANTINE:
            cmds.append(m.base(command="QuarantineStock", sku=receipt["sku"], site=m.site, qty=receipt["qty"],
                               lot=receipt.get("lot"), reason=f"received {m.disposition}"))
    return Built(cmds, kind, note)


def _ship(m: Move) -> Built:
    """Shipping to one of our sites: a transfer in transit (one per line, ``T#1``, ``T#2``..., when
    several); anywhere else, and retail selling: stock shipped."""
    destination = _our_site(m.mapping, m.event, "destinationList", "destination", m.where)
    if destination is None or destination == m.site or m.step != "shipping":
        return Built([m.base(command="ShipStock", sku=s, site=m.site, qty=q, lot=lot) for (s, lot), q in m.lines])
    transfer = transfer_id(m.event, m.where)
    several = len(m.lines) > 1
    cmds = [m.base(command="DispatchTransfer", transfer_id=line_transfer(transfer, n) if several else transfer,
                   sku=s, from_site=m.site, to_site=destination, qty=q, lot=lot)
            for n, ((s, lot), q) in enumerate(m.lines)]
    if m.transfers is not None:
        for dispatch in cmds:
            m.transfers.dispatched(dispatch["transfer_id"], dispatch["sku"], dispatch.get("lot"), destination)
    return Built(cmds, "transfer_out")


def _count(m: Move) -> Built:
    return Built([m.base(command="RecordCount", sku=s, site=m.site, counted=q, lot=lot) for (s, lot), q in m.lines])


def _expire(m: Move) -> Built:
    cmds = []
    for (s, lot), _ in m.lines:
        if lot is None:
            raise InvalidInput("an expired disposition needs a lot (an LGTIN class or /10/ lot)",
                               field=f"{m.where}.{m.quantity_list}")
        cmds.append(m.base(command="ExpireLot", sku=s, site=m.site, lot=lot))
    return Built(cmds)


def _release(m: Move) -> Built:
    return Built([m.base(command="ReleaseQuarantine", sku=s, site=m.site, qty=q, lot=lot)
                  for (s, lot), q in m.lines])


def _quarantine(m: Move) -> Built:
    return Built([m.base(command="QuarantineStock", sku=s, site=m.site, qty=q, lot=lot,
                         reason=f"EPCIS {m.disposition}") for (s, lot), q in m.lines])


@dataclass(frozen=True, slots=True)
class Rule:
    """An event is ``kind`` when every condition given holds: its type in ``types``, its action in
    ``actions``, its bizStep in ``steps``, its disposition in ``dispositions`` (None: any), and its
    bizStep not in ``unless_steps``. ``build`` None: an observation, no commands."""

    kind: str
    build: Callable[[Move], Built] | None
    types: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    steps: frozenset[str] | None = None
    dispositions: frozenset[str] | None = None
    unless_steps: frozenset[str] = frozenset()

    def matches(self, etype: str, action: str | None, step: str | None, disposition: str | None) -> bool:
        return ((self.types is None or etype in self.types) and (self.actions is None or action in self.actions)
                and (self.steps is None or step in self.steps)
                and (self.dispositions is None or disposition in self.dispositions)
                and step not in self.unless_steps)


# First match wins. See the package docstring for the table as a user reads it.
RULES: tuple[Rule, ...] = (
    Rule("observed", None, types=frozenset({"AggregationEvent", "TransactionEvent"}), actions=frozenset({"DELETE"})),
    Rule("adjustment", _adjust, steps=frozenset({ADJUSTING})),
    Rule("write_off", _write_off, actions=frozenset({"DELETE"})),
    Rule("write_off", _write_off, steps=WRITE_OFF_STEPS),
    Rule("write_off", _write_off, dispositions=WRITE_OFF_DISPOSITIONS, unless_steps=RECEIPT_STEPS | SHIP_STEPS),
    Rule("receipt", _receive, steps=RECEIPT_STEPS),
    Rule("shipment", _ship, steps=SHIP_STEPS),
    Rule("count", _count, steps=COUNT_STEPS),
    Rule("expiry", _expire, dispositions=frozenset({"expired"})),
    Rule("release", _release, steps=frozenset({"inspecting"}), dispositions=RELEASE),
    Rule("quarantine", _quarantine, dispositions=QUARANTINE),
)
ZERO_ALLOWED = frozenset({"count"})  # a count of zero is a count; any other line of zero is an error
LIST_FIELDS = {"AggregationEvent": ("childEPCs", "childQuantityList")}  # the others: epcList, quantityList


def classify(etype: str, action: str | None, step: str | None, disposition: str | None) -> Rule | None:
    """The first rule that holds for the event, or None (an observation)."""
    return next((rule for rule in RULES if rule.matches(etype, action, step, disposition)), None)


def _transformation(index: int, eid: str, where: str, event: Mapping[str, Any], mapping: EpcisMapping,
                    base: Callable[..., dict[str, Any]]) -> EpcisEvent:
    """A TransformationEvent: its inputs written off, its outputs received, at its site."""
    site = _site_of(mapping, event, where)
    inputs = Quantities(mapping, where, allow_zero=False)
    inputs.epcs(event.get("inputEPCList"), "inputEPCList")
    inputs.quantities(event.get("inputQuantityList"), "inputQuantityList")
    outputs = Quantities(mapping, where, allow_zero=False)
    outputs.epcs(event.get("outputEPCList"), "outputEPCList")
    outputs.quantities(event.get("outputQuantityList"), "outputQuantityList")
    if not inputs.units and not outputs.units:
        raise InvalidInput("a transformation needs inputs or outputs", field=f"{where}.inputQuantityList")
    cmds = [base(command="AdjustStock", sku=sku, site=site, delta=-qty, lot=lot,
                 reason="EPCIS transformation input") for (sku, lot), qty in inputs.units.items()]
    cmds += _received(base, outputs.units.items(), site, event)
    return EpcisEvent(index, eid, "transformation", cmds)


def map_event(index: int, where: str, event: Mapping[str, Any], mapping: EpcisMapping,
              store: EventStore | None = None, transfers: Transfers | None = None) -> EpcisEvent:
    """Validate one event and map it to command objects (without idempotency keys). ``transfers`` carries
    the transfers that the document's earlier events dispatch, for its later receipts."""
    etype = event.get("type")
    if etype not in EVENT_TYPES:
        if isinstance(etype, str) and ":" in etype:  # EPCIS 2.0 lets a producer define event types (URIs)
            return EpcisEvent(index, event_id(event), "observed", [],
                              note=f"{where}: extension event type {etype!r}"[:200] + ": nothing to map; skipped")
        raise InvalidInput(f"unsupported event type {etype!r}: not one of {', '.join(EVENT_TYPES)} nor an "
                           f"extension type (a URI)"[:240], field=f"{where}.type")
    eid = event_id(event)
    if _ledger_echo(event, store):
        return EpcisEvent(index, eid, "echo", [], echo=True)
    when = event.get("eventTime")
    if not isinstance(when, str):
        raise InvalidInput("eventTime is required", field=f"{where}.eventTime")
    occurred_at = parse_instant(f"{where}.eventTime", when)
    # Events that never move stock are not held to our vocabulary: a custom bizStep there harms nothing.
    if "errorDeclaration" in event:
        return EpcisEvent(index, eid, "declared_in_error", [], note=_declared_in_error(event, where, eid))
    if etype == "AssociationEvent":
        return EpcisEvent(index, eid, "observed", [])
    action = event.get("action")
    if etype != "TransformationEvent" and action not in ("ADD", "OBSERVE", "DELETE"):
        raise InvalidInput(f"must be ADD, OBSERVE or DELETE, got {action!r}"[:120], field=f"{where}.action")
    step = _norm_vocab(event.get("bizStep"), f"{where}.bizStep", BIZSTEPS, mapping.bizsteps, BIZSTEP_SPELLINGS)
    disposition = _norm_vocab(event.get("disposition"), f"{where}.disposition", DISPOSITIONS, {},
                              DISPOSITION_SPELLINGS)
    if step == "ignore":
        return EpcisEvent(index, eid, "observed", [])

    def base(**fields: Any) -> dict[str, Any]:
        return {"occurred_at": occurred_at, **{k: v for k, v in fields.items() if v is not None}}

    if etype == "TransformationEvent":
        return _transformation(index, eid, where, event, mapping, base)
    rule = classify(etype, action, step, disposition)
    if rule is None or rule.build is None:
        return EpcisEvent(index, eid, "observed", [])
    epc_list, quantity_list = LIST_FIELDS.get(etype, ("epcList", "quantityList"))
    qty = Quantities(mapping, where, allow_zero=rule.kind in ZERO_ALLOWED)
    qty.epcs(event.get(epc_list), epc_list)
    qty.quantities(event.get(quantity_list), quantity_list)
    if not qty.units:
        raise InvalidInput("the event moves stock but lists no products", field=f"{where}.{epc_list}")
    site = _site_of(mapping, event, where)
    built = rule.build(Move(event, where, step, disposition, action, site, list(qty.units.items()), quantity_list,
                            mapping, store, transfers, base))
    return EpcisEvent(index, eid, built.kind or rule.kind, built.commands, note=built.note)

def plan(doc: Any, mapping: EpcisMapping, store: EventStore | None = None) -> tuple[list[EpcisEvent],
                                                                               list[Command], list[dict[str, Any]]]:
    """Map every event and build the keyed commands; collect every error before raising."""
    events: list[EpcisEvent] = []
    errors: list[InvalidInput] = []
    transfers = Transfers(store)
    for index, where, event in iter_events(doc):
        try:
            mapped = map_event(index, where, event, mapping, store, transfers)
            mapped.where = where
            events.append(mapped)
        except InvalidInput as exc:
            errors.append(exc)
        except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
            # An event of a shape the checks above did not foresee: refused by its path like any other
            # invalid event, not a traceback (the mapping reads untrusted JSON of any shape).
            errors.append(InvalidInput(f"cannot read this event: {type(exc).__name__}: {exc}"[:240], field=where))
    moving: dict[str, EpcisEvent] = {}  # eventID -> the first event with it that moves stock
    for mapped in events:
        first = moving.setdefault(mapped.event_id, mapped) if mapped.commands else mapped
        if first is not mapped and first.commands != mapped.commands:
            errors.append(InvalidInput(f"eventID {mapped.event_id} is also the id of {first.where}, with other "
                                       f"content: an eventID names one event"[:300], field=f"{mapped.where}.eventID"))
    commands: list[Command] = []
    payloads: list[dict[str, Any]] = []
    for mapped in events:
        for n, obj in enumerate(mapped.commands):
            payload = {**obj, "idempotency_key": inbox_key("epcis", mapped.event_id, n)}
            try:
                commands.append(parse_command(payload))
            except InvalidInput as exc:
                errors.append(InvalidInput(f"{exc.message} (eventID {mapped.event_id})"[:300],
                                           field=f"{mapped.where} -> {obj['command']}.{exc.field}"))
                continue
            payloads.append(payload)
    if errors:
        raise Rejected(errors)
    return events, commands, payloads


def ingest(store: EventStore, doc: Any, mapping: EpcisMapping, *, source: str = "epcis") -> EpcisReport:
    """Validate a whole document, then write its commands all or nothing."""
    events, commands, payloads = plan(doc, mapping, store)
    report = EpcisReport(events=len(events))
    report.echoes = sum(1 for e in events if e.echo)
    report.observed = sum(1 for e in events if not e.commands and not e.echo)
    report.notes = [e.note for e in events if e.note]
    if not commands:
        return report
    try:
        outcomes = execute(store, commands, metadata={"source": source})
    except BatchRejected as exc:
        where, eid, command = _event_of(events, exc.index)
        raise Rejected([InvalidInput(f"{command} refused: {exc.error} (eventID {eid})"[:400],
                                          field=where)]) from exc
    counts = tally(outcomes)
    report.applied, report.duplicates, report.ledger_events = counts.applied, counts.duplicates, counts.events
    return report


def _event_of(events: list[EpcisEvent], command_index: int) -> tuple[str, str, str]:
    """(path, eventID, command name) of the event whose commands hold the batch's ``command_index``."""
    n = 0
    for e in events:
        if command_index < n + len(e.commands):
            return e.where or f"event {e.index}", e.event_id, str(e.commands[command_index - n]["command"])
        n += len(e.commands)
    return "event", "?", "a command"
