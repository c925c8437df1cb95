"""Parsing commands: every malformed field is refused with its name."""

from __future__ import annotations

import pytest

from stockmesh.domain.commands import ReceiveStock, parse_command
from stockmesh.domain.errors import InvalidInput

BASE = {"command": "ReceiveStock", "idempotency_key": "k-1", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
        "qty": 24}


def test_example_from_the_issue_parses():
    command = parse_command(BASE)
    assert command == ReceiveStock(idempotency_key="k-1", sku="OAT-MILK-1L", site="STORE-LYON-02", qty=24)


@pytest.mark.parametrize(("change", "field"), [
    ({"qty": 0}, "qty"),
    ({"qty": -3}, "qty"),
    ({"qty": 2.5}, "qty"),
    ({"qty": 3.0}, "qty"),
    ({"qty": "12"}, "qty"),
    ({"qty": True}, "qty"),
    ({"qty": 10**12 + 1}, "qty"),
    ({"qty": None}, "qty"),
    ({"sku": "'; DROP TABLE events; --"}, "sku"),
    ({"sku": "ÖL-ÉTÉ"}, "sku"),
    ({"sku": ""}, "sku"),
    ({"sku": "A" * 200}, "sku"),
    ({"site": 12}, "site"),
    ({"site": "STORE@LYON"}, "site"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "a\nb"}, "idempotency_key"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "0001-01-01"}, "occurred_at"),
    ({"expiry": "2027-01-01"}, "expiry"),  # an expiry without a lot
    ({"lot": "L1", "expiry": "31/12/2027"}, "expiry"),
    ({"approved": True}, "approved"),
    ({"command": "ReceiveStocks"}, "command"),
    ({"command": None}, "command"),
])
def test_bad_fields_are_named(change, field):
    with pytest.raises(InvalidInput) as info:
        parse_command({**BASE, **change})
    assert info.value.field == field


@pytest.mark.parametrize("missing", ["sku", "site", "qty", "idempotency_key"])
def test_missing_fields_are_named(missing):
    payload = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(InvalidInput) as info:
        parse_command(payload)
    assert info.value.field == missing


def test_non_object_is_refused():
    for value in ([1, 2], "ReceiveStock", 3, None):
        with pytest.raises(InvalidInput):
            parse_command(value)


def test_occurred_at_is_normalised_to_utc():
    command = parse_command({**BASE, "occurred_at": "2026-03-01T10:00:00+02:00"})
    assert command.occurred_at == "2026-03-01T08:00:00+00:00"
    assert parse_command({**BASE, "occurred_at": "2026-03-01"}).occurred_at == "2026-03-01T00:00:00+00:00"


def test_adjust_takes_signed_delta_and_reason():
    command = parse_command({"command": "AdjustStock", "idempotency_key": "k", "sku": "A", "site": "S",
                             "delta": -4, "reason": "broken jar"})
    assert command.delta == -4  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput) as info:
        parse_command({"command": "AdjustStock", "idempotency_key": "k", "sku": "A", "site": "S", "delta": 0,
                       "reason": "x"})
    assert info.value.field == "delta"


def test_transfer_to_itself_is_refused():
    with pytest.raises(InvalidInput) as info:
        parse_command({"command": "DispatchTransfer", "idempotency_key": "k", "transfer_id": "T", "sku": "A",
                       "from_site": "S", "to_site": "S", "qty": 1})
    assert info.value.field == "to_site"
