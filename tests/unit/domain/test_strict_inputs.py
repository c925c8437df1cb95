"""Every reader refuses what a parser would misread or crash on, naming where: a key given twice
(JSON and YAML), nesting 1,000 deep, a 4,400-digit number, bytes that are not UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockmesh.adapters import epcis, snapshots, x12
from stockmesh.domain.errors import InvalidInput, Rejected
from stockmesh.governance.policy import load_policy_text
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.scenario import load_scenario
from tests.unit.adapters.conftest import DATA, seed_network

REPO = Path(__file__).resolve().parents[3]
POLICY = (REPO / "policies" / "default.yaml").read_text()
SCENARIO = (REPO / "scenarios" / "default.yaml").read_text()
T846 = (DATA / "x12_846.edi").read_text()
DEEP_LIST = "[" * 1000 + "]" * 1000
HUGE = "9" * 4400


def _epcis(event_fields: str) -> bytes:
    return ('{"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-26T10:00:00Z", '
            '"epcisBody": {"eventList": [{"type": "ObjectEvent", "eventTime": "2026-11-26T10:00:00Z", '
            '"eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "receiving", '
            f'{event_fields}}}]}}}}').encode()


# --- JSON: EPCIS and snapshots ---------------------------------------------------------------------

def test_epcis_repeated_quantity_is_refused_by_its_path() -> None:
    raw = _epcis('"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", '
                 '"quantity": 5, "quantity": 5000}]')
    with pytest.raises(InvalidInput, match="appears more than once") as caught:
        epcis.read_document(raw)
    assert caught.value.field == "epcisBody.eventList[0].quantityList[0].quantity"


def test_epcis_nested_1000_deep_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(InvalidInput, match="nested too deeply") as caught:
        epcis.read_document(_epcis(f'"extension": {DEEP_LIST}'))
    assert str(caught.value.field).startswith("epcisBody.eventList[0].extension[0][0]")


def test_epcis_mapping_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("products:\n  '04012345123456': FLOUR-1KG\n  '04012345123456': OAT-MILK-1L\n")
    with pytest.raises(InvalidInput, match="line 3.*appears more than once"):
        epcis.load_mapping(path)


@pytest.mark.parametrize(("raw", "field", "words"), [
    (b'{"rows": [{"sku": "OAT-MILK-1L", "site": "DC-LYON", "on_hand": 5, "on_hand": 5000}]}', "rows[0].on_hand",
     "appears more than once"),
    (b'[{"sku": "OAT-MILK-1L", "sku": "FLOUR-1KG", "site": "DC-LYON", "on_hand": 5}]', "[0].sku",
     "appears more than once"),
    (('{"rows": [{"sku": ' + DEEP_LIST + ', "site": "DC-LYON", "on_hand": 1}]}').encode(), "rows[0].sku[0]",
     "nested too deeply"),
])
def test_snapshot_json_refused_naming_the_path(raw: bytes, field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        snapshots.parse_snapshot(raw, name="wms.json")
    assert str(caught.value.field).startswith(field)


def test_snapshot_json_with_a_byte_order_mark_reads() -> None:
    snap = snapshots.parse_snapshot(b'\xef\xbb\xbf[{"sku": "OAT-MILK-1L", "site": "DC-LYON", "on_hand": 5}]',
                                    name="wms.json")
    assert [r.on_hand for r in snap.rows] == [5]


# --- CSV -------------------------------------------------------------------------------------------

def test_snapshot_csv_not_utf8_names_line_and_byte() -> None:
    raw = b"sku,site,on_hand\nOAT-MILK-1L,DC-LYON,5\nFLOUR\xff,DC-LYON,1\n"
    with pytest.raises(InvalidInput, match="not valid UTF-8 at byte 44") as caught:
        snapshots.parse_snapshot(raw)
    assert caught.value.line == 3


@pytest.mark.parametrize("value", [HUGE, "²", "٣"])
def test_snapshot_csv_count_that_is_no_count_is_refused(value: str) -> None:
    raw = f"sku,site,on_hand\nOAT-MILK-1L,DC-LYON,{value}\n".encode()
    with pytest.raises(Rejected) as caught:
        snapshots.parse_snapshot(raw)
    error = caught.value.errors[0]
    assert (error.line, error.field) == (2, "on_hand")


def test_snapshot_csv_field_over_the_csv_limit_is_refused_naming_the_line() -> None:
    raw = b"sku,site,on_hand\nOAT-MILK-1L,DC-LYON,1\nOAT-MILK-1L,DC-PARIS,\"" + b"x" * 200_000 + b"\"\n"
    with pytest.raises(InvalidInput, match="malformed CSV") as caught:
        snapshots.parse_snapshot(raw)
    assert caught.value.line == 3


# --- X12 -------------------------------------------------------------------------------------------

@pytest.fixture
def network_store() -> MemoryEventStore:
    store = MemoryEventStore()
    seed_network(store)
    return store


@pytest.mark.parametrize(("old", "new", "element"), [
    ("SE*10*0001", f"SE*{HUGE}*0001", "SE01"),
    ("SE*10*0001", "SE*1²*0001", "SE01"),
    ("GE*1*101", f"GE*{HUGE}*101", "GE01"),
    ("QTY*17*120*EA", f"QTY*17*{HUGE}*EA", "QTY02"),
    ("QTY*17*120*EA", "QTY*17*nan*EA", "QTY02"),
    ("QTY*17*120*EA", "QTY*17*inf*EA", "QTY02"),
    ("QTY*17*120*EA", "QTY*17*1e999*EA", "QTY02"),
])
def test_x12_number_that_is_no_number_is_refused_naming_the_element(network_store, old: str, new: str,  # type: ignore[no-untyped-def]
                                                                     element: str) -> None:
    head = network_store.head()
    with pytest.raises(Rejected) as caught:
        x12.ingest_x12(network_store, T846.replace(old, new))
    assert element in str(caught.value.error.field)
    assert network_store.head() == head
    assert x12.ingest_x12(network_store, T846.replace("QTY*17*120*EA", "QTY*17*120.0*EA")).applied == 2  # type R


# --- YAML: policies and scenarios -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words", "line"), [
    (POLICY.replace("name: default\n", "name: default\nname: other\n"), "appears more than once", 3),
    (POLICY.replace("  max_order_qty: 10000\n", "  max_order_qty: 10000\n  max_order_qty: 99\n"),
     "appears more than once", None),
    (POLICY + "extra: " + DEEP_LIST + "\n", "nested too deeply", None),
    (POLICY.replace('version: "2026.11.1"', "version: " + "9" * 5000), "5000 characters", 3),
    (POLICY + "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + ", ".join(["*a"] * 10) + "]\nc: &c [" +
     ", ".join(["*b"] * 10) + "]\nd: &d [" + ", ".join(["*c"] * 10) + "]\ne: &e [" + ", ".join(["*d"] * 10) +
     "]\nf: &f [" + ", ".join(["*e"] * 10) + "]\ng: [" + ", ".join(["*f"] * 10) + "]\n", "aliases expand", None),
])
def test_policy_yaml_refused_naming_the_line(text: str, words: str, line: int | None) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        load_policy_text(text)
    if line is not None:
        assert caught.value.line == line


def test_yaml_a_merge_may_be_overridden_but_a_key_is_written_once() -> None:
    from stockmesh.governance.strict_yaml import load_yaml

    assert load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")["c"] == {"x": 3, "y": 2}
    with pytest.raises(InvalidInput, match="appears more than once") as caught:
        load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n  x: 4\n")
    assert (caught.value.field, caught.value.line) == ("x", 5)


def test_policy_bytes_not_utf8_name_the_line() -> None:
    with pytest.raises(InvalidInput, match="not valid UTF-8") as caught:
        load_policy_text(POLICY.encode().replace(b"Network default", b"Network \xff default"))
    assert caught.value.line == 4


def test_yaml_date_that_is_no_date_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace("start_date: 2024-01-01", "start_date: 2024-13-45"))
    with pytest.raises(ScenarioError, match="not a valid date") as caught:
        load_scenario(path)
    assert str(caught.value).startswith("line 7")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("seed: 1\n", "seed: .inf\n", "seed"),
    ("  count: 200\n", "  count: 200200200\n", "skus.count"),
    ("measured_days: 180", "measured_days: .nan", "horizon.measured_days"),
    ("level: {loguniform: [0.2, 8]}", "level: {loguniform: [0.2, 1.0e+25]}", "demand.level"),  # numpy: lam too large
])
def test_scenario_number_beyond_any_network_is_refused(tmp_path: Path, old: str, new: str, field: str) -> None:
    """int(.inf) raised OverflowError; 200,200,200 SKUs (a pasted digit group) exhausted memory."""
    path = tmp_path / "scenario.yaml"
    assert old in SCENARIO
    path.write_text(SCENARIO.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.path == field


def test_policy_control_character_names_the_line() -> None:
    with pytest.raises(InvalidInput, match="character #x001f") as caught:
        load_policy_text(POLICY.replace("Network default", "Network \x1f default"))
    assert caught.value.line == 4


@pytest.mark.parametrize(("text", "words"), [
    (SCENARIO.replace("horizon:", "seed: 1\nseed: 2\nhorizon:", 1), "appears more than once"),
    (SCENARIO + "description: " + DEEP_LIST + "\n", "nested too deeply"),
    (SCENARIO.replace("seed: 1\n", "seed: " + "9" * 5000 + "\n", 1), "5000 characters"),
])
def test_scenario_yaml_refused_naming_the_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=words) as caught:
        load_scenario(path)
    assert str(caught.value).startswith("line ")


def test_scenario_not_utf8_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(SCENARIO.encode() + b"# caf\xe9\n")
    with pytest.raises(ScenarioError, match="not valid UTF-8"):
        load_scenario(path)


def test_every_shipped_policy_and_scenario_loads_and_refuses_its_first_key_twice(tmp_path: Path) -> None:
    for path in sorted((REPO / "policies").glob("*.yaml")) + sorted((REPO / "scenarios").glob("*.yaml")):
        text = path.read_text()
        first = next(line for line in text.splitlines() if line and not line.startswith(("#", " ")))
        twice = tmp_path / path.name
        twice.write_text(text + first + "\n")
        if path.parent.name == "policies":
            assert load_policy_text(path.read_bytes()).name
            with pytest.raises(InvalidInput, match="appears more than once"):
                load_policy_text(twice.read_bytes())
        else:
            assert load_scenario(path).skus
            with pytest.raises(ScenarioError, match="appears more than once"):
                load_scenario(twice)


@pytest.mark.parametrize("line", ['{"type": "newsvendor", "mean": ' + HUGE + "}", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"])
def test_policy_solve_instance_line_with_a_huge_number_or_deep_nesting_names_the_line(line: str) -> None:
    from stockmesh.planning.exact.instances import decode_line

    with pytest.raises(InvalidInput, match="malformed JSON") as caught:
        decode_line(line, 7)
    assert caught.value.line == 7
