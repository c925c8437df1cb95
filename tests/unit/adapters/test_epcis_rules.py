"""The EPCIS rule table (adapters/epcis/inbound.py ``RULES``): which rule an event's type, action,
bizStep and disposition choose, the first that holds winning."""

from __future__ import annotations

import itertools

import pytest

from stockmesh.adapters import epcis


@pytest.mark.parametrize(("etype", "action", "step", "disposition", "kind"), [
    ("ObjectEvent", "OBSERVE", "receiving", "in_progress", "receipt"),
    ("ObjectEvent", "OBSERVE", "receiving", "destroyed", "receipt"),  # a write-off word does not undo a receipt
    ("ObjectEvent", "OBSERVE", "shipping", "stolen", "shipment"),
    ("ObjectEvent", "OBSERVE", "holding", "destroyed", "write_off"),
    ("ObjectEvent", "DELETE", "receiving", None, "write_off"),  # DELETE takes the objects out of our stock
    ("AggregationEvent", "DELETE", "receiving", None, "observed"),  # ... but unpacks an aggregation
    ("TransactionEvent", "DELETE", "shipping", None, "observed"),
    ("ObjectEvent", "DELETE", epcis.ADJUSTING, None, "adjustment"),  # our own adjustments come first
    ("ObjectEvent", "OBSERVE", "cycle_counting", "expired", "count"),
    ("ObjectEvent", "OBSERVE", None, "expired", "expiry"),
    ("ObjectEvent", "OBSERVE", "inspecting", "conformant", "release"),
    ("ObjectEvent", "OBSERVE", "inspecting", "damaged", "quarantine"),
    ("ObjectEvent", "OBSERVE", "storing", "recalled", "quarantine"),
])
def test_the_first_rule_that_holds_chooses_the_kind(etype: str, action: str, step: str | None,
                                                     disposition: str | None, kind: str) -> None:
    rule = epcis.classify(etype, action, step, disposition)
    assert rule is not None and rule.kind == kind
    assert (rule.build is None) == (kind == "observed")


@pytest.mark.parametrize(("step", "disposition"), [
    ("arriving", None), ("storing", "conformant"), ("packing", "in_progress"), (None, None)])
def test_an_event_no_rule_holds_for_is_an_observation(step: str | None, disposition: str | None) -> None:
    assert epcis.classify("ObjectEvent", "OBSERVE", step, disposition) is None


def test_every_rule_is_the_first_to_hold_for_some_event() -> None:
    """No rule is shadowed by the ones above it: each decides some event of the vocabulary."""
    chosen = set()
    for etype, action, step, disposition in itertools.product(
            ("ObjectEvent", "AggregationEvent", "TransactionEvent"), ("ADD", "OBSERVE", "DELETE"),
            (*sorted(epcis.BIZSTEPS), epcis.ADJUSTING, None), (*sorted(epcis.DISPOSITIONS), None)):
        rule = epcis.classify(etype, action, step, disposition)
        if rule is not None:
            chosen.add(epcis.RULES.index(rule))
    assert sorted(chosen) == list(range(len(epcis.RULES)))
