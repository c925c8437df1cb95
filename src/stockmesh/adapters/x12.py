"""ANSI X12: a tokenizer of our own, declarative per-set mappings, 846/856 in, 850 out, 997 acks.

No maintained Python library parses these sets, and the grammar we need is small. The delimiters
come from the fixed-width ISA segment (106 characters): the element separator is its 4th
character, the component separator its 105th and the segment terminator its 106th. The envelope is
checked before anything is mapped: ISA13 = IEA02, GS06 = GE02, ST02 = SE02, SE01 = the number of
segments from ST to SE, GE01 = the sets in the group, IEA01 = the groups. Every error names the
segment number and the element (``segment 7 SE01``) and nothing is written.

In: **846** (inventory advice) is a snapshot: one ``RecordCount`` per LIN item (site from the N1
loop, quantity from QTY 17 / 33). **856** (ship notice) is stock in transit towards us: one
``DispatchTransfer`` per item from the ship-from (N1 SF) to the ship-to (N1 ST) site, the transfer
id from BSN02. **997** acknowledgements are read and reported. Each command is keyed by the control
numbers ``x12:<sender>:<ISA13>:<GS06>:<ST02>#<n>``: a re-sent interchange changes nothing.
Out: **850** purchase orders (``write_850``, ``X12OrderSink`` for the outbox relay) and **997**
(``write_997``) for what we received.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import InvalidInput, Rejected, StockmeshError
from stockmesh.domain.inputs import MAX_NUMBER_CHARS
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import BatchRejected, execute, tally
from stockmesh.service.inbox import inbox_key
from stockmesh.service.sink import DeliveryFailed, OutboundMessage, Sink

ISA_WIDTHS = (3, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)  # "ISA", then ISA01..ISA16
ISA_LENGTH = 106
_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[Ee]-?[0-9]{1,2})?")  # type R (exponent: X12 4010+)


# --- tokenizer -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: ``id`` and its elements (``elements[1]`` is XX01), ``number`` from 1."""

    id: str
    elements: tuple[str, ...]
    number: int

    def get(self, index: int) -> str:
        return self.elements[index].strip() if index < len(self.elements) else ""


class X12Error(InvalidInput):
    """A malformed interchange; ``field`` is like ``segment 7 SE01``."""


def _err(message: str, segment: int | None, element: str) -> X12Error:
    where = f"segment {segment} {element}" if segment is not None else element
    return X12Error(message, field=where)


def delimiters(text: str) -> Delimiters:
    """Read the delimiters from the fixed-width ISA segment, checking its width."""
    if not text.startswith("ISA"):
        raise _err("an interchange starts with ISA", 1, "ISA")
    if len(text) < ISA_LENGTH:
        raise _err(f"the ISA segment is {ISA_LENGTH} characters wide; the text is shorter", 1, "ISA")
    sep = text[3]
    if sep.isalnum() or sep.isspace():
        raise _err(f"element separator {sep!r} must not be a letter, digit or space", 1, "ISA")
    position = 0
    for n, width in enumerate(ISA_WIDTHS):
        position += width
        if n == len(ISA_WIDTHS) - 1:
            break
        if text[position] != sep:
            actual = text[position - width:].split(sep, 1)[0]
            raise _err(f"must be exactly {width} characters wide (fixed-width ISA), got {len(actual)}: {actual!r}"[:160],
                       1, f"ISA{n:02d}")
        position += 1
    component, terminator = text[104], text[105]
    if terminator.isalnum() or terminator in (sep, component):
        raise _err(f"segment terminator {terminator!r} is not a delimiter", 1, "ISA16")
    version = text[84:89]
    repetition = text[82] if version >= "00501" and not text[82].isalnum() else None
    return Delimiters(sep, component, terminator, repetition)


def tokenize(text: str) -> tuple[Delimiters, list[Segment]]:
    text = text.lstrip("\ufeff \r\n\t")
    d = delimiters(text)
    segments: list[Segment] = []
    for raw in text.split(d.segment):
        raw = raw.strip("\r\n ")
        if not raw:
            continue
        elements = tuple(raw.split(d.element))
        seg_id = elements[0]
        if not (2 <= len(seg_id) <= 3 and seg_id.isalnum() and seg_id.isupper() or seg_id.isdigit()):
            raise _err(f"not a segment identifier: {seg_id[:20]!r}", len(segments) + 1, "id")
        segments.append(Segment(seg_id, elements, len(segments) + 1))
    return d, segments


# --- envelopes -----------------------------------------------------------------------------

@dataclass(slots=True)
class TransactionSet:
    code: str  # ST01: 846, 856, 850, 997
    control: str  # ST02
    segments: list[Segment]  # between ST and SE, exclusive


@dataclass(slots=True)
class Group:
    functional_id: str  # GS01: IB (846), SH (856), PO (850), FA (997)
    sender: str
    receiver: str
    control: str  # GS06
    version: str
    sets: list[TransactionSet] = field(default_factory=list)


@dataclass(slots=True)
class Interchange:
    delimiters: Delimiters
    sender: str  # ISA06
    receiver: str  # ISA08
    control: str  # ISA13
    date: str
    groups: list[Group] = field(default_factory=list)


def _count(value: str, seg: Segment, element: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_NUMBER_CHARS:  # "²".isdigit() too
        raise _err(f"must be a count, got {value!r}"[:80], seg.number, element)
    return int(value)


def parse_interchange(text: str) -> Interchange:
    """Tokenize and check the envelope (control numbers and counts)."""
    d, segs = tokenize(text)
    isa = segs[0]
    if len(isa.elements) != 17:
        raise _err(f"ISA has 16 elements, got {len(isa.elements) - 1}", 1, "ISA")
    ix = Interchange(d, isa.get(6), isa.get(8), isa.get(13), isa.get(9))
    if not ix.control.isdigit():
        raise _err(f"interchange control number must be 9 digits, got {ix.control!r}", 1, "ISA13")
    group: Group | None = None
    current: TransactionSet | None = None
    st_number = 0
    ended = False
    for seg in segs[1:]:
        if ended:
            raise _err("segment after IEA", seg.number, seg.id)
        if seg.id == "GS":
            if group is not None:
                raise _err("GS inside an open group (missing GE)", seg.number, "GS")
            group = Group(seg.get(1), seg.get(2), seg.get(3), seg.get(6), seg.get(8))
        elif seg.id == "ST":
            if group is None or current is not None:
                raise _err("ST outside a group or inside an open set (missing SE)", seg.number, "ST")
            current = TransactionSet(seg.get(1), seg.get(2), [])
            st_number = seg.number
        elif seg.id == "SE":
            if current is None or group is None:
                raise _err("SE without ST", seg.number, "SE")
            count = _count(seg.get(1), seg, "SE01")
            actual = seg.number - st_number + 1
            if count != actual:
                raise _err(f"says {count} segments, the set has {actual} (ST to SE inclusive)", seg.number, "SE01")
            if seg.get(2) != current.control:
                raise _err(f"control number {seg.get(2)!r} does not match ST02 {current.control!r}", seg.number, "SE02")
            group.sets.append(current)
            current = None
        elif seg.id == "GE":
            if group is None or current is not None:
                raise _err("GE without GS, or inside an open set", seg.number, "GE")
            if _count(seg.get(1), seg, "GE01") != len(group.sets):
                raise _err(f"says {seg.get(1)} sets, the group has {len(group.sets)}", seg.number, "GE01")
            if seg.get(2) != group.control:
                raise _err(f"control number {seg.get(2)!r} does not match GS06 {group.control!r}", seg.number, "GE02")
            ix.groups.append(group)
            group = None
        elif seg.id == "IEA":
            if group is not None:
                raise _err("IEA inside an open group (missing GE)", seg.number, "IEA")
            if _count(seg.get(1), seg, "IEA01") != len(ix.groups):
                raise _err(f"says {seg.get(1)} groups, the interchange has {len(ix.groups)}", seg.number, "IEA01")
            if seg.get(2) != ix.control:
                raise _err(f"control number {seg.get(2)!r} does not match ISA13 {ix.control!r}", seg.number, "IEA02")
            ended = True
        elif current is not None:
            current.segments.append(seg)
        else:
            raise _err(f"segment {seg.id} outside a transaction set", seg.number, seg.id)
    if not ended:
        raise _err("the interchange has no IEA trailer", None, "IEA")
    return ix


# --- declarative per-set mappings ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ref:
    """Element ``index`` of segment ``segment``, on the segment whose element ``when[0]`` is one of
    ``when[1]`` (a qualifier), e.g. ``Ref("QTY", 2, (1, ("17", "33")))`` = the on-hand quantity."""

    segment: str
    index: int
    when: tuple[int, tuple[str, ...]] | None = None

    def matches(self, seg: Segment) -> bool:
        return seg.id == self.segment and (self.when is None or seg.get(self.when[0]) in self.when[1])


@dataclass(frozen=True, slots=True)
class SetSpec:
    """What a set may contain and where its values are: header fields, an item loop started by
    ``loop``, item fields, and product-id qualifiers (LIN/PO1 pairs)."""

    code: str
    segments: frozenset[str]
    loop: str
    header: Mapping[str, Ref]
    item: Mapping[str, Ref]
    sku_qualifiers: tuple[str, ...] = ("SK", "BP", "VP", "IN", "UP", "EN")


SPECS: dict[str, SetSpec] = {
    "846": SetSpec(
        "846", frozenset({"BIA", "CUR", "REF", "PER", "DTM", "N1", "N2", "N3", "N4", "LIN", "PID", "PO4", "QTY",
                          "UIT", "SDQ", "SCH", "MEA", "CTT", "LX", "LM", "LQ"}),
        loop="LIN",
        header={"report_id": Ref("BIA", 3), "date": Ref("BIA", 4), "time": Ref("BIA", 5),
                "site": Ref("N1", 4, (1, ("WH", "RL", "ST", "SF", "MF")))},
        item={"on_hand": Ref("QTY", 2, (1, ("17", "33"))), "site": Ref("N1", 4, (1, ("WH", "RL", "ST")))}),
    "856": SetSpec(
        "856", frozenset({"BSN", "DTM", "HL", "TD1", "TD3", "TD4", "TD5", "REF", "N1", "N2", "N3", "N4", "PRF",
                          "LIN", "SN1", "PID", "PO4", "MAN", "SLN", "CTT", "MEA", "PKG", "FOB"}),
        loop="LIN",
        header={"shipment_id": Ref("BSN", 2), "date": Ref("BSN", 3), "time": Ref("BSN", 4),
                "shipped": Ref("DTM", 2, (1, ("011",))), "from_site": Ref("N1", 4, (1, ("SF",))),
                "to_site": Ref("N1", 4, (1, ("ST",))), "po": Ref("PRF", 1)},
        item={"qty": Ref("SN1", 2)}),
    "850": SetSpec(
        "850", frozenset({"BEG", "CUR", "REF", "PER", "DTM", "N1", "N2", "N3", "N4", "PO1", "PID", "CTT", "AMT",
                          "TD5", "ITD", "FOB", "SE"}),
        loop="PO1",
        header={"po_id": Ref("BEG", 3), "site": Ref("N1", 4, (1, ("ST",))),
                "supplier": Ref("N1", 4, (1, ("SE", "VN")))},
        item={"qty": Ref("PO1", 2)}),
    "997": SetSpec(
        "997", frozenset({"AK1", "AK2", "AK3", "AK4", "AK5", "AK9"}), loop="AK2",
        header={"group_id": Ref("AK1", 1), "group_control": Ref("AK1", 2), "group_status": Ref("AK9", 1)},
        item={"set_code": Ref("AK2", 1), "set_control": Ref("AK2", 2), "status": Ref("AK5", 1)}),
}


@dataclass(slots=True)
class Item:
    fields: dict[str, tuple[str, Segment]]
    products: dict[str, tuple[str, Segment]]  # qualifier -> (value, segment)
    segment: Segment


def extract(ts: TransactionSet) -> tuple[dict[str, tuple[str, Segment]], list[Item]]:
    """Apply a set's spec: unknown segments are errors; header and item fields by their ``Ref``."""
    spec = SPECS.get(ts.code)
    if spec is None:
        raise _err(f"transaction set {ts.code!r} is not supported (846, 856, 850, 997)",
                   ts.segments[0].number - 1 if ts.segments else None, "ST01")
    header: dict[str, tuple[str, Segment]] = {}
    items: list[Item] = []
    for seg in ts.segments:
        if seg.id not in spec.segments:
            raise _err(f"unknown segment {seg.id!r} in a {ts.code}", seg.number, seg.id)
        if seg.id == spec.loop:
            products: dict[str, tuple[str, Segment]] = {}
            start = 2 if spec.loop in ("LIN",) else 6 if spec.loop == "PO1" else len(seg.elements)
            for i in range(start, len(seg.elements) - 1, 2):
                qualifier, value = seg.get(i), seg.get(i + 1)
                if qualifier and value:
                    products[qualifier] = (value, seg)
            items.append(Item({}, products, seg))
        target = items[-1].fields if items else header
        for name, ref in (spec.item if items else spec.header).items():
            if ref.matches(seg) and name not in target:
                target[name] = (seg.get(ref.index), seg)
        if items:
            for name, ref in spec.header.items():
                if ref.matches(seg) and name not in header and name not in spec.item:
                    header[name] = (seg.get(ref.index), seg)
    return header, items


# --- mapping to commands -------------------------------------------------------------------

def _x12_date(date: str, time: str = "") -> str | None:
    if len(date) == 6:
        date = "20" + date
    if len(date) != 8 or not (date.isascii() and date.isdigit()):
        return None
    hhmm = (time + "0000")[:4] if time.isascii() and time.isdigit() else "0000"
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}T{hhmm[:2]}:{hhmm[2:]}:00+00:00"


def _positive(value: str, seg: Segment, element: str, *, zero: bool = False) -> int:
    # X12 type R, checked before Decimal reads it: float() would also take "nan", "inf", "1_0" and
    # 5,000 digits (then int() of infinity raises OverflowError)
    if len(value) > MAX_NUMBER_CHARS or _DECIMAL.fullmatch(value) is None:
        raise _err(f"must be a quantity, got {value!r}"[:80], seg.number, element)
    number = Decimal(value)
    if number < 0 or (number == 0 and not zero) or number != number.to_integral_value():
        raise _err(f"must be a {'non-negative' if zero else 'positive'} whole quantity, got {value}", seg.number,
                   element)
    return int(number)


def _sku(item: Item, spec: SetSpec) -> str:
    for qualifier in spec.sku_qualifiers:
        if qualifier in item.products:
            return item.products[qualifier][0]
    raise _err(f"no product id ({'/'.join(spec.sku_qualifiers)} qualifier)", item.segment.number,
               f"{item.segment.id}02")


@dataclass(slots=True)
class Acknowledgement:
    group_control: str
    group_status: str  # A accepted, E accepted with errors, R rejected, P partially
    sets: list[tuple[str, str, str]]  # (set code, control, status)


def commands_for(ix: Interchange) -> tuple[list[dict[str, Any]], list[Acknowledgement]]:
    """Command objects (with their control-number keys) for every set; 997s come back as acks."""
    out: list[dict[str, Any]] = []
    acks: list[Acknowledgement] = []
    for group in ix.groups:
        for ts in group.sets:
            header, items = extract(ts)
            base_key = f"{ix.sender.strip()}:{ix.control}:{group.control}:{ts.control}"
            made: list[dict[str, Any]] = []
            if ts.code == "846":
                stamp = _x12_date(header.get("date", ("", None))[0], header.get("time", ("", None))[0])  # type: ignore[arg-type]
                for item in items:
                    site = item.fields.get("site") or header.get("site")
                    if site is None or not site[0]:
                        raise _err("no site: an N1 WH/RL/ST segment with an id in N104", item.segment.number, "N104")
                    if "on_hand" not in item.fields:
                        raise _err("no QTY 17 (on hand) for the item", item.segment.number, "QTY01")
                    qty_value, qty_seg = item.fields["on_hand"]
                    body: dict[str, Any] = {"command": "RecordCount", "sku": _sku(item, SPECS["846"]),
                                            "site": site[0], "counted": _positive(qty_value, qty_seg, "QTY02", zero=True)}
                    if "LT" in item.products:
                        body["lot"] = item.products["LT"][0]
                    if stamp:
                        body["occurred_at"] = stamp
                    made.append(body)
            elif ts.code == "856":
                shipment = header.get("shipment_id")
                if shipment is None or not shipment[0]:
                    raise _err("a ship notice needs a shipment id", ts.segments[0].number if ts.segments else None,
                               "BSN02")
                for name in ("from_site", "to_site"):
                    if name not in header or not header[name][0]:
                        raise _err(f"no {'ship-from (N1 SF)' if name == 'from_site' else 'ship-to (N1 ST)'} site id",
                                   None, "N104")
                shipped = header.get("shipped") or header.get("date")
                stamp = _x12_date(shipped[0]) if shipped else None
                for n, item in enumerate(items, start=1):
                    if "qty" not in item.fields:
                        raise _err("no SN1 quantity for the item", item.segment.number, "SN102")
                    qty_value, qty_seg = item.fields["qty"]
                    body = {"command": "DispatchTransfer",
                            "transfer_id": shipment[0] if len(items) == 1 else f"{shipment[0]}-{n}",
                            "sku": _sku(item, SPECS["856"]), "from_site": header["from_site"][0],
                            "to_site": header["to_site"][0], "qty": _positive(qty_value, qty_seg, "SN102")}
                    if "LT" in item.products:
                        body["lot"] = item.products["LT"][0]
                    if stamp:
                        body["occurred_at"] = stamp
                    made.append(body)
            elif ts.code == "997":
                acks.append(Acknowledgement(
                    header.get("group_control", ("", None))[0], header.get("group_status", ("", None))[0],  # type: ignore[arg-type]
                    [(i.fields.get("set_code", ("", None))[0], i.fields.get("set_control", ("", None))[0],  # type: ignore[misc]
                      i.fields.get("status", ("", None))[0]) for i in items]))
            else:
                raise _err(f"a {ts.code} is written by stockmesh, not read", None, "ST01")
            for n, body in enumerate(made):
                body["idempotency_key"] = inbox_key("x12", base_key, n)
            out.extend(made)
    return out, acks


@dataclass(slots=True)
class X12Report:
    interchange: str
    sets: int = 0
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    acknowledgements: list[Acknowledgement] = field(default_factory=list)


def ingest_x12(store: EventStore, text: str, *, source: str = "x12") -> X12Report:
    """Parse, validate and map an interchange, then write its commands all or nothing."""
    try:
        ix = parse_interchange(text)
        objects, acks = commands_for(ix)
        commands: list[Command] = []
        for body in objects:
            try:
                commands.append(parse_command(body))
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field=f"{body['command']}.{exc.field}") from exc
    except InvalidInput as exc:
        raise Rejected([exc]) from exc
    report = X12Report(ix.control, sum(len(g.sets) for g in ix.groups), acknowledgements=acks)
    if not commands:
        return report
    try:
        outcomes = execute(store, commands, metadata={"source": source, "x12_interchange": ix.control})
    except BatchRejected as exc:
        raise Rejected([exc.error]) from exc
    counts = tally(outcomes)
    report.applied, report.duplicates, report.events = counts.applied, counts.duplicates, counts.events
    return report


# --- writing: 850 and 997 ---------------------------------------------------------------------

def control_number(message_id: str) -> int:
    """A stable 9-digit control number for a message: a re-sent 850 carries the same ISA13."""
    return int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % 999_999_999 + 1


def _isa(sender: str, receiver: str, control: int, when: datetime, *, ack_requested: bool = True) -> str:
    return "*".join([
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", f"{sender[:15]:<15}", "ZZ", f"{receiver[:15]:<15}",
        when.strftime("%y%m%d"), when.strftime("%H%M"), "U", "00401", f"{control:09d}",
        "1" if ack_requested else "0", "P", ">"]) + "~"


def _envelope(code: str, functional: str, body: Sequence[str], *, sender: str, receiver: str, control: int,
              when: datetime) -> str:
    st_control = f"{control % 10000:04d}"
    segments = [f"ST*{code}*{st_control}", *body]
    segments.append(f"SE*{len(segments) + 1}*{st_control}")
    lines = [_isa(sender, receiver, control, when),
             f"GS*{functional}*{sender}*{receiver}*{when:%Y%m%d}*{when:%H%M}*{control}*X*004010~",
             *(s + "~" for s in segments), f"GE*1*{control}~", f"IEA*1*{control:09d}~"]
    return "\n".join(lines) + "\n"


def _element(value: Any, name: str) -> str:
    text = str(value)
    if any(ch in text for ch in "*~>\n\r"):
        raise InvalidInput("must not contain an X12 delimiter (* ~ >)", field=name)
    return text


def write_850(order: Mapping[str, Any], *, sender: str, receiver: str, control: int,
              when: datetime | None = None) -> str:
    """An 850 for one of our purchase orders (the ``PlacePurchaseOrder`` payload)."""
    when = when or SYSTEM_CLOCK.now()
    body = [f"BEG*00*SA*{_element(order['po_id'], 'po_id')}**{when:%Y%m%d}",
            f"N1*ST**92*{_element(order['site'], 'site')}",
            f"N1*SE**92*{_element(order['supplier'], 'supplier')}",
            f"PO1*1*{int(order['qty'])}*EA***SK*{_element(order['sku'], 'sku')}"]
    if order.get("expected_at"):
        body.append(f"DTM*002*{str(order['expected_at'])[:10].replace('-', '')}")
    body.append("CTT*1")
    return _envelope("850", "PO", body, sender=sender, receiver=receiver, control=control, when=when)


def write_997(ix: Interchange, *, sender: str | None = None, control: int | None = None,
              error: StockmeshError | None = None, when: datetime | None = None) -> str:
    """The functional acknowledgement of a received interchange: accepted, or rejected with error."""
    when = when or SYSTEM_CLOCK.now()
    status = "R" if error is not None else "A"
    body: list[str] = []
    for group in ix.groups:
        body.append(f"AK1*{group.functional_id}*{group.control}")
        for ts in group.sets:
            body += [f"AK2*{ts.code}*{ts.control}", f"AK5*{status}"]
        body.append(f"AK9*{status}*{len(group.sets)}*{len(group.sets)}*{0 if error else len(group.sets)}")
    return _envelope("997", "FA", body, sender=sender or ix.receiver.strip(), receiver=ix.sender.strip(),
                     control=control or control_number(f"997:{ix.sender}:{ix.control}"), when=when)


class X12OrderSink(Sink):
    """Writes each ``purchase_order.placed`` outbox message as an 850 file in ``directory``, once:
    the file name carries the control number derived from the message id, so a redelivery finds
    the file and writes nothing (a trading partner de-duplicates on the same ISA13)."""

    def __init__(self, directory: Path | str, *, sender: str = "STOCKMESH", receiver: str = "PARTNER",
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.receiver = receiver
        self.clock = clock

    def deliver(self, message: OutboundMessage) -> None:
        if message.topic != "purchase_order.placed":
            return
        control = control_number(message.message_id)
        target = self.directory / f"{control:09d}.850"
        if target.exists():
            return
        try:
            text = write_850(message.payload, sender=self.sender, receiver=self.receiver, control=control,
                             when=self.clock.now())
        except (InvalidInput, KeyError) as exc:
            raise DeliveryFailed(f"cannot write an 850: {exc}", permanent=True) from exc
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {target}: {exc.strerror}") from exc
