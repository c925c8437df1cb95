"""A fuzz battery over every input format: each mutated file is either accepted or refused cleanly.

Formats: commands (JSON lines, ``stockmesh ingest``), EPCIS JSON (``epcis ingest``), X12 846/856
(``x12 ingest``), snapshots CSV and JSON (``snapshot ingest``), policy YAML (``governance
publish``), scenario YAML (read and built as ``simulate`` does), and the body of every POST route
of the API. Mutations: byte and bit flips, truncation, deleted and repeated slices, a key given
twice, nesting 1,000 deep, 4,400-digit numbers, bytes that are not UTF-8, byte order marks, NUL
bytes, type swaps, empty files, very long strings, and format-specific ones (CSV cells, X12
elements, YAML aliases and tags).

Assertions: the CLI exits 0, or non-zero with stderr starting ``error:`` and no traceback; the API
answers below 500, a 4xx with a problem body; a refusal writes nothing (the ledger's event count and
head are unchanged). Cases are seeded by (format, number): ``STOCKMESH_FUZZ_N`` (60 by default, as in
CI) sets how many per format, and a failure names its case and mutation, so it reproduces alone
with ``STOCKMESH_FUZZ_ONLY=format:number``.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

N = int(os.environ.get("STOCKMESH_FUZZ_N", "60"))
ONLY = os.environ.get("STOCKMESH_FUZZ_ONLY")  # "format:number": run that one case
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "unit" / "adapters" / "data"
HUGE = "9" * 4400
DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a": ' * 1000 + "1" + "}" * 1000
TOKENS = [HUGE, "-" + HUGE, "1e400", "-1", "0", "1.5", "NaN", "Infinity", "", "²", "١٢", "null", "true",
          "A" * 100_000, "\u202eKLIM", "😀", "' OR 1=1 --", "\x00", "0x1F", "1_000", "+5", "1e2", "9" * 25]
JSON_VALUES = [None, True, False, 0, -1, 1.5, 10**30, -(10**30), "", "x", "A" * 100_000, [], {}, [1, 2],
               {"$gt": 0}, "😀", "\u0000"]
RAW_JSON = [HUGE, "-" + HUGE, "1e400", "NaN", "Infinity", DEEP, DEEP_OBJECT, '"\\ud800"', '{"k": 1, "k": 2}',
            "9" * 25, "1" + "0" * 400, "[" * 70 + "]" * 70]
YAML_VALUES = ["~", "[]", "{}", "yes", ".nan", ".inf", "-.inf", "-1", "0x1F", "1:20:30", "2024-13-45", HUGE,
               "9" * 5000 + ".5", DEEP, "!!binary aGk=", "!!python/object/apply:os.system ['true']",
               "'unterminated", "*undefined", "&anchor", "|", "A" * 100_000, "1e400", "!!float 1e400",
               "!!int " + HUGE, "{a: 1, a: 2}", "\t1", "😀", "'\u202e'"]
BAD_BYTES = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
BOM = b"\xef\xbb\xbf"


# --- mutations ---------------------------------------------------------------------------------------
Mutation = Callable[[random.Random, bytes], bytes]


def _spot(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def flip_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return b"\x00"
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]


def flip_bit(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return b"\x01"
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:_spot(rng, data)]


def delete_slice(rng: random.Random, data: bytes) -> bytes:
    start = _spot(rng, data)
    return data[:start] + data[start + rng.randrange(1, 64):]


def repeat_slice(rng: random.Random, data: bytes) -> bytes:
    start = _spot(rng, data)
    end = min(len(data), start + rng.randrange(1, 200))
    return data[:end] + data[start:end] * rng.randrange(1, 4) + data[end:]


def bad_utf8(rng: random.Random, data: bytes) -> bytes:
    at = _spot(rng, data)
    return data[:at] + rng.choice(BAD_BYTES) + data[at:]


def byte_order_mark(rng: random.Random, data: bytes) -> bytes:
    if rng.random() < 0.5:
        return BOM + data
    at = _spot(rng, data)
    return data[:at] + BOM + data[at:]


def nul_byte(rng: random.Random, data: bytes) -> bytes:
    at = _spot(rng, data)
    return data[:at] + b"\x00" + data[at:]


def empty(rng: random.Random, data: bytes) -> bytes:
    return rng.choice([b"", b" ", b"\n", b"\r\n\r\n", b"\t", BOM])


def line_ends(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n"]))


def huge_number(rng: random.Random, data: bytes) -> bytes:
    numbers = list(re.finditer(rb"\d+", data))
    if not numbers:
        return data + HUGE.encode()
    hit = rng.choice(numbers)
    return data[:hit.start()] + rng.choice([HUGE, "9" * 25, "1" + "0" * 400]).encode() + data[hit.end():]


def long_string(rng: random.Random, data: bytes) -> bytes:
    at = _spot(rng, data)
    return data[:at] + b"A" * rng.choice([1000, 100_000, 300_000]) + data[at:]


GENERIC: list[Mutation] = [flip_byte, flip_bit, truncate, delete_slice, repeat_slice, bad_utf8, byte_order_mark,
                           nul_byte, empty, line_ends, huge_number, long_string]

SENTINEL = "\u0000fuzz\u0000"


def _slots(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((value, key))
            _slots(item, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((value, index))
            _slots(item, out)
    return out


# A structural mutation returns the mutant and whether it must be refused: a key given twice, nesting
# past 64 levels, a number no parser reads. Accepting one of those is a misread, not only a crash.
Mutant = tuple[bytes, bool]
REFUSED_RAW_JSON = set(RAW_JSON) - {"9" * 25}  # 25 digits: a float to orjson, then each field decides


def json_mutation(rng: random.Random, doc: Any) -> Mutant:
    """A structural mutation of a JSON document: a value swapped for another type or a raw text
    (a huge number, deep nesting...), or a key given twice with another value."""
    doc = json.loads(json.dumps(doc))
    slots = _slots(doc, [])
    if not slots:
        return json.dumps(rng.choice(JSON_VALUES)).encode(), False
    container, key = rng.choice(slots)
    kind = rng.random()
    if kind < 0.3:
        container[key] = rng.choice(JSON_VALUES)
        return json.dumps(doc).encode(), False
    original = container[key]
    container[key] = SENTINEL
    text = json.dumps(doc)
    marker = json.dumps(SENTINEL)
    if kind < 0.6 or not isinstance(container, dict):
        raw = rng.choice(RAW_JSON)
        return text.replace(marker, raw, 1).encode(), raw in REFUSED_RAW_JSON
    other = rng.choice([*JSON_VALUES, 5000, original])
    spacer = rng.choice([", ", ",", ",\n", " , "])
    colon = rng.choice([": ", ":", " : ", "\n:"])
    return text.replace(marker, f"{json.dumps(original)}{spacer}{json.dumps(key)}{colon}{json.dumps(other)}",
                        1).encode(), True


REFUSED_YAML = {HUGE, "9" * 5000 + ".5", DEEP, "!!python/object/apply:os.system ['true']", "'unterminated",
                "*undefined", "!!int " + HUGE, "{a: 1, a: 2}"}


def yaml_mutation(rng: random.Random, data: bytes) -> Mutant:
    """A structural mutation of a YAML document: a key written twice, a scalar swapped for an odd
    one (tags, aliases, .nan, 5,000 digits, deep nesting), an alias bomb, tabs."""
    lines = data.decode().split("\n")
    scalars = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+: \S", line) and "#" not in line]
    kind = rng.random()
    if kind < 0.3 and scalars:
        i = rng.choice(scalars)
        indent, key = re.match(r"^(\s*)([A-Za-z_]+):", lines[i]).groups()  # type: ignore[union-attr]
        lines.insert(i + rng.choice([0, 1]), f"{indent}{key}: {rng.choice(['5000', 'lenient', '0', '~'])}")
        return "\n".join(lines).encode(), True
    if kind < 0.75 and scalars:
        i = rng.choice(scalars)
        key_part = lines[i].split(":", 1)[0]
        value = rng.choice(YAML_VALUES)
        lines[i] = f"{key_part}: {value}"
        return "\n".join(lines).encode(), value in REFUSED_YAML
    if kind < 0.85:
        lines += ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
            f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]" for prev, name in zip("abcdef", "bcdefg", strict=True)]
        return "\n".join(lines).encode(), True
    if kind < 0.95:
        return "\n".join(line.replace("  ", "\t", 1) if rng.random() < 0.3 else line for line in lines).encode(), False
    lines.insert(rng.randrange(len(lines) + 1), "--- !!python/object/apply:os.system ['true']")
    return "\n".join(lines).encode(), True


def csv_mutation(rng: random.Random, data: bytes) -> Mutant:
    rows = [line.split(",") for line in data.decode().split("\n") if line]
    kind = rng.random()
    refuse = False
    if kind < 0.55:
        row = rng.choice(rows)
        token = rng.choice([*TOKENS, HUGE, "²"])
        row[rng.randrange(len(row))] = token
        refuse = token in (HUGE, "-" + HUGE, "²")  # in any column: no count, identifier or instant reads it
    elif kind < 0.65:
        rows = rows[1:]
    elif kind < 0.75:
        rows[0].append(rng.choice(["lot", "extra", "on_hand", "sku", ""]))
    elif kind < 0.85:
        rows.append(list(rng.choice(rows[1:])))
    elif kind < 0.95:
        rng.choice(rows)[0] = '"unclosed'
    else:
        rng.choice(rows).extend(["x"] * rng.randrange(1, 5))
    return "\n".join(",".join(row) for row in rows).encode() + b"\n", refuse


X12_NUMBERS = {"SE": 1, "GE": 1, "IEA": 1, "QTY": 2, "SN1": 2, "CTT": 1}  # elements read as numbers


def x12_mutation(rng: random.Random, data: bytes) -> Mutant:
    text = data.decode("latin-1")
    segments = text.split("~")
    kind = rng.random()
    i = rng.randrange(len(segments))
    if kind < 0.3:  # a number element the reader uses: any of these tokens must be refused
        numbered = [k for k, seg in enumerate(segments) if seg.strip().split("*")[0] in X12_NUMBERS and
                    seg.strip().split("*")[0] != "CTT"]
        k = rng.choice(numbered)
        elements = segments[k].split("*")
        elements[X12_NUMBERS[elements[0].strip()]] = rng.choice([HUGE, "nan", "inf", "-5", "1e999", "²", "١٢"])
        segments[k] = "*".join(elements)
        return "~".join(segments).encode(), True
    if kind < 0.6:
        elements = segments[i].split("*")
        j = rng.randrange(len(elements))
        elements[j] = rng.choice([*TOKENS, "nan", "inf", "-5", "1e999", "12.5", "١٢"])
        segments[i] = "*".join(elements)
    elif kind < 0.7:
        del segments[i]
    elif kind < 0.8:
        segments.insert(i, segments[i])
    elif kind < 0.9:
        return text.replace("~", rng.choice(["\n", "", "~~", "*"]), rng.randrange(1, 5)).encode(), False
    else:
        segments[i] = segments[i].replace("*", rng.choice(["**", "", "|", ">"]), 1)
    return "~".join(segments).encode(), False


@dataclass
class Case:
    fmt: str
    number: int
    mutation: str
    data: bytes
    must_refuse: bool = False


def cases(fmt: str, seed: bytes, structural: Callable[[random.Random, bytes], Mutant]) -> Iterator[Case]:
    """``N`` mutants of ``seed``, each from its own generator: (format, number) reproduces it."""
    for number in range(N):
        if ONLY and f"{fmt}:{number}" != ONLY:
            continue
        rng = random.Random(f"{fmt}:{number}")
        if rng.random() < 0.4:
            op = rng.choice(GENERIC)
            yield Case(fmt, number, op.__name__, op(rng, seed))
        else:
            yield Case(fmt, number, structural.__name__, *structural(rng, seed))


# --- what is checked ------------------------------------------------------------------------------------

@dataclass
class Tally:
    fmt: str
    expected: int = N
    cases: int = 0
    accepted: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self) -> None:
        print(f"fuzz {self.fmt}: {self.cases} cases, {self.accepted} accepted, {self.refused} refused cleanly, "
              f"{len(self.failures)} failures")
        assert self.cases == self.expected or ONLY
        assert not self.failures, "\n".join(self.failures[:10])


def ledger_state(db_path: Path) -> tuple[int, int, str]:
    with sqlite3.connect(db_path) as conn:
        count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        position, head = conn.execute("SELECT position, hash FROM ledger_head").fetchone()
    return count, position, head


def run_cli(tally: Tally, case: Case, db_path: Path, args: list[str]) -> None:
    """One CLI call in process: exit 0, or a clean refusal that wrote nothing."""
    tally.cases += 1
    before = ledger_state(db_path)
    result = CliRunner().invoke(app, args)
    where = f"{case.fmt}:{case.number} ({case.mutation})"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tally.failures.append(f"{where}: traceback {type(result.exception).__name__}: {result.exception}"[:400])
        return
    if result.exit_code == 0:
        tally.accepted += 1
        if case.must_refuse:
            tally.failures.append(f"{where}: accepted, but it must be refused (misread)")
        return
    tally.refused += 1
    stderr = result.stderr
    if not stderr.startswith("error:") or "Traceback" in stderr:
        tally.failures.append(f"{where}: exit {result.exit_code}, stderr {stderr[:300]!r}")
    if ledger_state(db_path) != before:
        tally.failures.append(f"{where}: refused (exit {result.exit_code}) but the ledger changed")


NETWORK = [
    {"command": "RegisterSku", "sku": "OAT-MILK-1L", "pack_size": 6},
    {"command": "RegisterSku", "sku": "MUESLI-500G"},
    {"command": "RegisterSku", "sku": "FLOUR-1KG"},
    {"command": "RegisterSite", "site": "DC-LYON", "kind": "dc"},
    {"command": "RegisterSite", "site": "STORE-LYON-02"},
    {"command": "RegisterSite", "site": "DC-PARIS", "kind": "dc"},
    {"command": "RegisterSite", "site": "STORE-PARIS-01"},
    {"command": "RegisterSite", "site": "SUP-OATLY", "kind": "supplier"},
    {"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 500},
    {"command": "ReceiveStock", "sku": "FLOUR-1KG", "site": "DC-LYON", "qty": 50, "lot": "L2611"},
    {"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 50},
]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    setup = tmp_path / "network.jsonl"
    setup.write_text("\n".join(json.dumps({**c, "idempotency_key": f"net:{i}"}) for i, c in enumerate(NETWORK)))
    for args in (["init"], ["ingest", str(setup)]):
        result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{path}"])
        assert result.exit_code == 0, result.output
    return path


def fuzz_cli(tmp_path: Path, ledger: Path, fmt: str, seed: bytes, structural: Callable[[random.Random, bytes], Mutant],
             command: list[str], suffix: str, fresh: Callable[[bytes, int], bytes] | None = None) -> None:
    """``fresh``: makes a case's idempotency keys its own, so an accepted mutant does not make the
    next ones key conflicts."""
    tally = Tally(fmt)
    for case in cases(fmt, seed, structural):
        path = tmp_path / f"{fmt}-{case.number}{suffix}"
        path.write_bytes(fresh(case.data, case.number) if fresh else case.data)
        run_cli(tally, case, ledger, [*command, str(path), "--db", f"sqlite:///{ledger}"])
    tally.check()


# --- the CLI formats ------------------------------------------------------------------------------------

COMMANDS = [
    {"command": "ReceiveStock", "idempotency_key": "f1", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 12},
    {"command": "ShipStock", "idempotency_key": "f2", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 2},
    {"command": "DispatchTransfer", "idempotency_key": "f3", "transfer_id": "T-F", "sku": "OAT-MILK-1L",
     "from_site": "DC-LYON", "to_site": "STORE-LYON-02", "qty": 6},
    {"command": "RecordSales", "idempotency_key": "f4", "site": "STORE-LYON-02",
     "lines": [{"sku": "OAT-MILK-1L", "qty": 1}]},
    {"command": "AdjustStock", "idempotency_key": "f5", "sku": "FLOUR-1KG", "site": "DC-LYON", "delta": -1,
     "reason": "damaged", "lot": "L2611"},
]


def commands_mutation(rng: random.Random, data: bytes) -> Mutant:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    line, refuse = json_mutation(rng, json.loads(lines[i]))
    lines[i] = line.replace(b"\n", b" ") if rng.random() < 0.8 else line  # else: the line is cut in two
    return b"\n".join(lines), refuse


def test_fuzz_commands_json_lines(tmp_path: Path, ledger: Path) -> None:
    seed = "\n".join(json.dumps(c) for c in COMMANDS).encode()
    fuzz_cli(tmp_path, ledger, "commands", seed, commands_mutation, ["ingest"], ".jsonl",
             fresh=lambda data, number: data.replace(b'"idempotency_key": "f', f'"idempotency_key": "{number}f'.encode()))


EPCIS = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument",
    "schemaVersion": "2.0", "creationDate": "2026-11-26T10:00:00Z",
    "epcisBody": {"eventList": [
        {"type": "ObjectEvent", "eventID": "urn:uuid:6f6c1d8e-0000-4000-8000-000000000001",
         "eventTime": "2026-11-26T10:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "ADD",
         "bizStep": "receiving", "disposition": "in_progress", "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
         "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 5}]},
        {"type": "ObjectEvent", "eventID": "urn:uuid:6f6c1d8e-0000-4000-8000-000000000002",
         "eventTime": "2026-11-26T11:00:00Z", "eventTimeZoneOffset": "+01:00", "action": "OBSERVE",
         "bizStep": "shipping", "disposition": "in_transit", "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
         "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 2, "uom": "EA"}],
         "ilmd": {"lotNumber": "L1"}},
    ]},
}


def test_fuzz_epcis_json(tmp_path: Path, ledger: Path) -> None:
    fuzz_cli(tmp_path, ledger, "epcis", json.dumps(EPCIS, indent=1).encode(),
             lambda rng, data: json_mutation(rng, EPCIS),
             ["epcis", "ingest", "--mapping", str(DATA / "epcis_mapping.yaml")], ".json")


def test_fuzz_x12(tmp_path: Path, ledger: Path) -> None:
    tally = Tally("x12", expected=2 * N)  # N mutants of each interchange
    for name in ("x12_846.edi", "x12_856.edi"):
        seed = (DATA / name).read_bytes()
        for case in cases(f"x12-{name[4:7]}", seed, x12_mutation):
            path = tmp_path / f"{case.fmt}-{case.number}.edi"
            path.write_bytes(case.data)
            run_cli(tally, case, ledger, ["x12", "ingest", str(path), "--db", f"sqlite:///{ledger}"])
    tally.check()


SNAPSHOT_ROWS = [{"sku": "OAT-MILK-1L", "site": "DC-LYON", "on_hand": 480},
                 {"sku": "FLOUR-1KG", "site": "DC-LYON", "lot": "L2611", "on_hand": 48},
                 {"sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "on_hand": 50, "in_transit": 0}]


def test_fuzz_snapshot_csv(tmp_path: Path, ledger: Path) -> None:
    seed = ("sku,site,lot,on_hand,in_transit,as_of\n" + "\n".join(
        f"{r['sku']},{r['site']},{r.get('lot', '')},{r['on_hand']},{r.get('in_transit', '')},2026-11-26T10:00:00Z"
        for r in SNAPSHOT_ROWS) + "\n").encode()
    fuzz_cli(tmp_path, ledger, "snapshot-csv", seed, csv_mutation, ["snapshot", "ingest"], ".csv")


def test_fuzz_snapshot_json(tmp_path: Path, ledger: Path) -> None:
    doc = {"as_of": "2026-11-26T10:00:00Z", "source": "wms", "rows": SNAPSHOT_ROWS}
    fuzz_cli(tmp_path, ledger, "snapshot-json", json.dumps(doc).encode(), lambda rng, data: json_mutation(rng, doc),
             ["snapshot", "ingest"], ".json")


def test_fuzz_policy_yaml(tmp_path: Path, ledger: Path) -> None:
    fuzz_cli(tmp_path, ledger, "policy", (REPO / "policies" / "default.yaml").read_bytes(), yaml_mutation,
             ["governance", "publish"], ".yaml")


SCENARIO = b"""name: fuzz
description: A small network for the fuzz battery
seed: 3
policy: agents
initial_cover_days: 14
horizon:
  history_days: 14
  warmup_days: 7
  measured_days: 14
  start_date: 2024-01-01
network:
  suppliers:
    - id: SUP-A
      lead_time: {uniform: [3, 6]}
      reliability: 0.95
  dcs:
    - id: DC-A
  stores:
    - id: STORE-A
      supplied_by: DC-A
    - id: STORE-B
      supplied_by: DC-A
      demand_scale: 0.8
  lanes:
    - {from: DC-A, to: STORE-A, transit_time: 1, capacity_per_day: 4000, cost_per_unit: 0.05}
skus:
  count: 3
  unit_cost: {uniform: [1, 50]}
  pack_size: 1
demand:
  level: {loguniform: [0.1, 2]}
  weekly_profile: [0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 0.8]
costs:
  holding_rate_per_year: 0.25
"""


def test_fuzz_scenario_yaml(tmp_path: Path) -> None:
    """Read and built as ``stockmesh simulate`` does (the run itself is the simulator's business)."""
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.scenario import load_scenario

    seed_path = tmp_path / "seed.yaml"
    seed_path.write_bytes(SCENARIO)
    build_world(load_scenario(seed_path))  # the seed itself is valid
    tally = Tally("scenario")
    for case in cases("scenario", SCENARIO, yaml_mutation):
        tally.cases += 1
        path = tmp_path / f"scenario-{case.number}.yaml"
        path.write_bytes(case.data)
        try:
            scenario = load_scenario(path)
            horizon = scenario.horizon
            cells = (scenario.skus.count + len(scenario.skus.listed)) * (len(scenario.stores) + 8) * (
                horizon.history_days + horizon.warmup_days + horizon.measured_days)
            if cells <= 2_000_000:  # a mutant that asks for a big world is valid, and slow to build here
                build_world(scenario)
            tally.accepted += 1
            if case.must_refuse:
                tally.failures.append(f"scenario:{case.number} ({case.mutation}): accepted, but it must be refused")
        except InvalidInput as exc:
            tally.refused += 1
            if not str(exc):
                tally.failures.append(f"scenario:{case.number} ({case.mutation}): refused without a message")
        except Exception as exc:  # noqa: BLE001 - any other exception is the finding
            tally.failures.append(f"scenario:{case.number} ({case.mutation}): {type(exc).__name__}: {exc}"[:400])
    tally.check()


# --- the API: every POST route ------------------------------------------------------------------------

def api_routes(policy_text: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/api/commands", {"command": "ReserveStock", "reservation_id": "R-F", "sku": "OAT-MILK-1L",
                           "site": "STORE-LYON-02", "qty": 1}),
        ("/api/commands", {"command": "RecordSales", "site": "STORE-LYON-02", "lines": [{"sku": "OAT-MILK-1L", "qty": 1}]}),
        ("/api/proposals", {"action": "replenish", "value": 10.0, "reasons": ["below reorder point"],
                            "command": {"command": "PlacePurchaseOrder", "po_id": "PO-F", "sku": "OAT-MILK-1L",
                                        "site": "STORE-LYON-02", "supplier": "SUP-ALPRO", "qty": 10}}),
        ("/api/proposals/{proposal}/approve", {"reason": "checked the forecast"}),
        ("/api/proposals/{proposal}/reject", {"reason": "too early"}),
        ("/api/proposals/expire", {}),
        ("/api/policies", {"yaml": policy_text}),
        ("/api/policies/default/activate", {"version": "2026.11.1", "reason": "back to the default"}),
        ("/api/policies/default/rollback", {"reason": "regression", "to_version": "2026.11.1"}),
        ("/api/policies/default/canary", {"version": "2026.11.1", "share": 0.2, "max_regression": {"fill_rate": 0.01}}),
        ("/api/policies/default/canary/promote", {"reason": "looks good"}),
        ("/api/policies/default/canary/kpis", {"control": {"fill_rate": 0.97}, "canary": {"fill_rate": 0.98},
                                               "source": "twin"}),
        ("/api/policies/default/shadow", {"version": "2026.11.1"}),
        ("/api/policies/default/rollout/stop", {"mode": "canary", "reason": "enough"}),
        ("/api/killswitch", {"engaged": False, "reason": "drill", "site": "STORE-LYON-02"}),
    ]


def test_fuzz_api_bodies(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from stockmesh.entrypoints.api import Settings, create_app
    from stockmesh.ledger.sqlite import SqliteEventStore
    from tests.e2e.test_api import seed as seed_api

    db_path = tmp_path / "api.db"
    store = SqliteEventStore(str(db_path))
    store.init()
    token = seed_api(store)["root"]
    policy_text = (REPO / "policies" / "default.yaml").read_text()
    routes = api_routes(policy_text)
    tally = Tally("api")
    api = create_app(Settings(rate_limit_per_minute=0), store=store)
    posted = {path for path, operations in api.openapi()["paths"].items() if "post" in operations}
    assert posted == {path.replace("{proposal}", "{proposal_id}").replace("/policies/default/", "/policies/{name}/")
                      for path, _ in routes}, "a POST route without a seed body here"
    with TestClient(api, raise_server_exceptions=False) as client:
        made = client.post("/api/proposals", json=routes[2][1], headers={"Authorization": f"Bearer {token}"})
        assert made.status_code == 201, made.text
        proposal = made.json()["proposal_id"]
        for number in range(N):
            if ONLY and f"api:{number}" != ONLY:
                continue
            rng = random.Random(f"api:{number}")
            path, body = rng.choice(routes)
            path = path.replace("{proposal}", proposal)
            must_refuse = False
            if path == "/api/policies" and rng.random() < 0.5:
                mutation = "yaml_mutation"
                text, must_refuse = yaml_mutation(rng, policy_text.encode())
                data = json.dumps({"yaml": text.decode()}).encode()
            elif rng.random() < 0.4:
                op = rng.choice(GENERIC)
                mutation, data = op.__name__, op(rng, json.dumps(body).encode())
            else:
                mutation = "json_mutation"
                data, must_refuse = json_mutation(rng, body)
            where = f"api:{number} ({mutation} of {path})"
            tally.cases += 1
            before = ledger_state(db_path)
            response = client.post(path, content=data, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                "Idempotency-Key": f"fuzz-{number}"})
            if response.status_code >= 500:
                tally.failures.append(f"{where}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                tally.refused += 1
                if not response.headers.get("content-type", "").startswith("application/problem+json"):
                    tally.failures.append(f"{where}: {response.status_code} without a problem body")
                if ledger_state(db_path) != before:
                    tally.failures.append(f"{where}: refused ({response.status_code}) but the ledger changed")
            else:
                tally.accepted += 1
                if must_refuse:
                    tally.failures.append(f"{where}: {response.status_code}, but it must be refused (misread)")
    store.close()
    tally.check()


# --- a few through the real command ---------------------------------------------------------------------

REAL = [
    ("ingest", ".jsonl", b'{"command": "ShipStock", "idempotency_key": "r1", "sku": "OAT-MILK-1L", '
                         b'"site": "DC-LYON", "qty": 1, "qty"\r: 400}\n', "appears more than once"),  # \r: slipped past
    ("epcis ingest", ".json", json.dumps(EPCIS).replace('"ilmd": {"lotNumber": "L1"}', f'"ilmd": {DEEP}').encode(),
     "nested too deeply"),
    ("x12 ingest", ".edi", (DATA / "x12_846.edi").read_bytes().replace(b"SE*10*", f"SE*{HUGE}*".encode()), "SE01"),
    ("snapshot ingest", ".csv", b"sku,site,on_hand\nOAT-MILK-1L,DC-LYON,4\xff80\n", "not valid UTF-8"),
    ("snapshot ingest", ".json", b'[{"sku": "OAT-MILK-1L", "site": "DC-LYON", "on_hand": 5, "on_hand": 5000}]',
     "appears more than once"),
    ("governance publish", ".yaml", (REPO / "policies" / "default.yaml").read_bytes() + b"extra: " + DEEP.encode(),
     "nested too deeply"),
]


@pytest.mark.parametrize(("command", "suffix", "data", "words"), REAL, ids=[r[0] + r[1] for r in REAL])
def test_refusals_through_the_real_command(tmp_path: Path, ledger: Path, command: str, suffix: str, data: bytes,
                                           words: str) -> None:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    before = ledger_state(ledger)
    args = command.split()
    if command == "epcis ingest":
        args += ["--mapping", str(DATA / "epcis_mapping.yaml")]
    done = subprocess.run([sys.executable, "-m", "stockmesh.entrypoints.cli", *args, str(path),
                           "--db", f"sqlite:///{ledger}"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert words in done.stderr
    assert ledger_state(ledger) == before
