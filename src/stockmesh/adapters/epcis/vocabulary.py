"""The CBV 2.0 vocabulary stockmesh reads: bizSteps, dispositions, event types and units, in each
of the spellings EPCIS 2.0 allows (bare word, CBV 1.x URN, GS1 web URI, compact IRI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NS = "https://stockmesh.dev/ns/epcis/"
ADJUSTING = f"{NS}bizstep/adjusting"  # our own bizStep for book adjustments (CBV has none)

BIZSTEPS = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting", "installing",
    "killing", "loading", "other", "packing", "picking", "receiving", "removing", "repackaging",
    "repairing", "replacing", "reserving", "retail_selling", "shipping", "staging_outbound",
    "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking", "void_shipping",
    "sensor_reporting", "sampling",
})
DISPOSITIONS = frozenset({
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded", "expired",
    "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other",
    "partially_dispensed", "recalled", "reserved", "retail_sold", "returned", "sellable_accessible",
    "sellable_not_accessible", "stolen", "unknown", "available", "completeness_verified",
    "completeness_inferred", "conformant", "container_open", "mismatch_instance", "mismatch_class",
    "mismatch_quantity", "needs_replacement", "non_conformant", "unavailable",
})
QUARANTINE = frozenset({"damaged", "non_sellable_other", "recalled", "non_conformant", "needs_replacement",
                        "mismatch_instance", "mismatch_class", "mismatch_quantity", "unavailable",
                        "sellable_not_accessible", "expired", "no_pedigree_match"})
RELEASE = frozenset({"conformant", "sellable_accessible", "available"})
WRITE_OFF_DISPOSITIONS = frozenset({"destroyed", "disposed", "stolen"})
RECEIPT_STEPS = frozenset({"receiving", "commissioning"})
SHIP_STEPS = frozenset({"shipping", "retail_selling"})
WRITE_OFF_STEPS = frozenset({"destroying", "decommissioning"})
COUNT_STEPS = frozenset({"cycle_counting", "stock_taking"})
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")


def _cbv_spellings(urn: str, web: str) -> tuple[str, ...]:
    """The prefixes a CBV word is written with besides the bare word: its CBV 1.x URN, its GS1 web URI
    (CBV 2.0), and the compact IRIs the EPCIS 2.0 JSON-LD context allows for the latter."""
    return (f"urn:epcglobal:cbv:{urn}:", f"https://ref.gs1.org/cbv/{web}-", f"https://gs1.org/voc/{web}-",
            f"cbv:{web}-", f"gs1:{web}-")


BIZSTEP_SPELLINGS = _cbv_spellings("bizstep", "BizStep")
DISPOSITION_SPELLINGS = _cbv_spellings("disp", "Disp")
SOURCE_DEST_SPELLINGS = _cbv_spellings("sdt", "SDT")  # sourceList / destinationList types
BIZ_TRANSACTION_SPELLINGS = _cbv_spellings("btt", "BTT")


def cbv_word(value: str, spellings: tuple[str, ...]) -> str:
    """``shipping`` for ``urn:epcglobal:cbv:bizstep:shipping``, ``https://ref.gs1.org/cbv/BizStep-shipping``
    or ``shipping``; any other URI unchanged."""
    for prefix in spellings:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def type_word(item: Mapping[str, Any], spellings: tuple[str, ...]) -> str | None:
    """The CBV word of a list item's ``type`` (a sourceList or bizTransactionList entry), if it has one."""
    kind = item.get("type")
    return cbv_word(kind, spellings) if isinstance(kind, str) else None


COUNT_UNITS = frozenset({"EA", "H87", "C62"})  # UN/ECE Rec 20: each, piece, one: our base unit, as no uom
