"""The policy-instance schema of ``docs/policy-instances.md``: validation, solving, tolerance checks.

No I/O: callers hand in already-read lines or decoded objects. Every validation error is an
``InvalidInput`` naming the instance id in the message and the offending field (dotted path, e.g.
``demand.sd`` or ``nodes[2].holding_cost``); ``parse_lines`` adds the line number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.exact import gsm, newsvendor, rq, serial, ss

INSTANCE_TYPES = ("newsvendor", "sS", "rQ", "serial", "gsm_tree")


@dataclass(frozen=True, slots=True)
class SolvedInstance:
    """An instance's answer (keys as in its ``expected``) and, when it has one, the tolerance check."""

    id: str
    type: str
    answer: dict[str, Any]
    ok: bool | None
    mismatches: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        """The JSON line printed by ``stockmesh policy solve --json``."""
        record: dict[str, Any] = {"id": self.id, **self.answer}
        if self.ok is not None:
            record["ok"] = self.ok
        if self.mismatches:
            record["mismatches"] = list(self.mismatches)
        return record


class _Reader:
    """Typed access to one instance's fields; errors name the instance and the field."""

    def __init__(self, record: Mapping[str, Any], instance_id: str) -> None:
        self.record = record
        self.instance_id = instance_id

    def fail(self, field: str, message: str) -> InvalidInput:
        return InvalidInput(f"instance {self.instance_id!r}: {message}", field=field)

    def get(self, container: Mapping[str, Any], key: str, path: str) -> Any:
        if not isinstance(container, Mapping):
            raise self.fail(path.rsplit(".", 1)[0], "must be an object")
        if key not in container:
            raise self.fail(path, "missing field")
        return container[key]

    def number(
        self,
        container: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: float | None = None,
        positive: bool = False,
        default: float | None = None,
    ) -> float:
        if default is not None and key not in container:
            return default
        value = self.get(container, key, path)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(path, f"must be > 0, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(path, f"must be >= {minimum:g}, got {value!r}")
        return float(value)

    def integer(
        self,
        container: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int = 0,
        default: int | None = None,
    ) -> int:
        if default is not None and key not in container:
            return default
        value = self.number(container, key, path, minimum=minimum)
        if value != int(value):
            raise self.fail(path, f"must be a whole number, got {value!r}")
        return int(value)

    def cost(self, key: str, *, positive: bool = False) -> float:
        value = self.number(self.record, key, key, minimum=0.0)
        if positive and value == 0:
            raise self.fail(key, "must be > 0 for this model (otherwise it has no finite optimum)")
        return value

    def demand(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        demand = self.get(self.record, "demand", "demand")
        if not isinstance(demand, Mapping):
            raise self.fail("demand", "must be an object")
        dist = self.get(demand, "dist", "demand.dist")
        if dist not in allowed:
            raise self.fail("demand.dist", f"must be one of {', '.join(allowed)}, got {dist!r}")
        return dict(demand)


def _solve_newsvendor(reader: _Reader) -> dict[str, Any]:
    demand = reader.demand(("normal", "poisson", "discrete"))
    holding = reader.cost("holding_cost", positive=True)
    stockout = reader.cost("stockout_cost", positive=True)
    lead_time = reader.integer(reader.record, "lead_time", "lead_time")
    if demand["dist"] == "normal":
        mean = reader.number(demand, "mean", "demand.mean", minimum=0.0)
        sd = reader.number(demand, "sd", "demand.sd", positive=True)
        result = newsvendor.solve_newsvendor_normal(mean, sd, holding, stockout, lead_time)
        return {"base_stock": result.base_stock, "expected_cost": result.expected_cost}
    if demand["dist"] == "poisson":
        mean = reader.number(demand, "mean", "demand.mean", positive=True)
        result = newsvendor.solve_newsvendor_poisson(mean, holding, stockout, lead_time)
        return {"base_stock": int(result.base_stock), "expected_cost": result.expected_cost}
    values, probabilities = _discrete_demand(reader, demand)
    if lead_time > 0:  # demand over L+1 periods: (L+1)-fold convolution on the integers
        if not np.all(values == np.round(values)) or values.min() < 0:
            raise reader.fail("demand.values", "must be non-negative integers when lead_time > 0")
        per_period = np.zeros(int(values.max()) + 1)
        np.add.at(per_period, values.astype(int), probabilities)
        covered = per_period
        for _ in range(lead_time):
            covered = np.convolve(covered, per_period)
        values, probabilities = np.arange(len(covered), dtype=float), covered
    result = newsvendor.solve_newsvendor_discrete(values, probabilities, holding, stockout)
    base_stock: float | int = result.base_stock
    if float(base_stock).is_integer():
        base_stock = int(base_stock)
    return {"base_stock": base_stock, "expected_cost": result.expected_cost}


def _discrete_demand(reader: _Reader, demand: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    raw_values = reader.get(demand, "values", "demand.values")
    raw_probabilities = reader.get(demand, "probabilities", "demand.probabilities")
    if not isinstance(raw_values, list) or not raw_values:
        raise reader.fail("demand.values", "must be a non-empty list of numbers")
    if not isinstance(raw_probabilities, list) or len(raw_probabilities) != len(raw_values):
        raise reader.fail("demand.probabilities", "must be a list as long as demand.values")
    values = np.array([reader.number({"v": v}, "v", f"demand.values[{i}]") for i, v in enumerate(raw_values)])
    probabilities = np.array(
        [
            reader.number({"p": p}, "p", f"demand.probabilities[{i}]", minimum=0.0)
            for i, p in enumerate(raw_probabilities)
        ]
    )
    if abs(probabilities.sum() - 1.0) > 1e-6:
        raise reader.fail("demand.probabilities", f"must sum to 1, got {probabilities.sum():.9g}")
    return values, probabilities


def _solve_ss(reader: _Reader) -> dict[str, Any]:
    demand = reader.demand(("poisson",))
    mean = reader.number(demand, "mean", "demand.mean", positive=True)
    holding = reader.cost("holding_cost", positive=True)
    stockout = reader.cost("stockout_cost", positive=True)
    fixed = reader.cost("fixed_cost")
    lead_time = reader.number(reader.record, "lead_time", "lead_time", minimum=0.0)
    if lead_time != 0:
        raise reader.fail("lead_time", f"the (s,S) model here has zero lead time, got {lead_time!r}")
    result = ss.solve_ss_poisson(mean, holding, stockout, fixed)
    return {"s": result.s, "S": result.S, "expected_cost": result.expected_cost}


def _solve_rq(reader: _Reader) -> dict[str, Any]:
    demand = reader.demand(("poisson", "normal"))
    holding = reader.cost("holding_cost", positive=True)
    stockout = reader.cost("stockout_cost", positive=True)
    fixed = reader.cost("fixed_cost")
    lead_time = reader.number(reader.record, "lead_time", "lead_time", minimum=0.0)
    if demand["dist"] == "poisson":
        rate = reader.number(demand, "rate", "demand.rate", positive=True)
        result = rq.solve_rq_poisson(rate, holding, stockout, fixed, lead_time)
        return {"r": int(result.r), "Q": int(result.Q), "expected_cost": result.expected_cost}
    mean = reader.number(demand, "mean", "demand.mean", positive=True)
    sd = reader.number(demand, "sd", "demand.sd", positive=True)
    result = rq.solve_rq_normal(mean, sd, holding, stockout, fixed, lead_time)
    return {"r": result.r, "Q": result.Q, "expected_cost": result.expected_cost}


def _solve_serial(reader: _Reader) -> dict[str, Any]:
    stages = reader.get(reader.record, "stages", "stages")
    if not isinstance(stages, list) or not stages:
        raise reader.fail("stages", "must be a non-empty list of stages")
    holding_costs = [
        reader.number(stage, "echelon_holding_cost", f"stages[{i}].echelon_holding_cost", minimum=0.0)
        for i, stage in enumerate(stages)
    ]
    lead_times = [
        reader.number(stage, "lead_time", f"stages[{i}].lead_time", minimum=0.0)
        for i, stage in enumerate(stages)
    ]
    stockout = reader.cost("stockout_cost", positive=True)
    demand = reader.demand(("normal", "poisson"))
    if demand["dist"] == "poisson":
        mean = reader.number(demand, "mean", "demand.mean", positive=True)
        result = serial.solve_serial_poisson(holding_costs, lead_times, stockout, mean)
        levels: list[Any] = [int(level) for level in result.echelon_base_stock]
    else:
        mean = reader.number(demand, "mean", "demand.mean", minimum=0.0)
        sd = reader.number(demand, "sd", "demand.sd", positive=True)
        result = serial.solve_serial_normal(holding_costs, lead_times, stockout, mean, sd)
        levels = list(result.echelon_base_stock)
    return {"echelon_base_stock": levels, "expected_cost": result.expected_cost}


def _solve_gsm(reader: _Reader) -> dict[str, Any]:
    raw_nodes = reader.get(reader.record, "nodes", "nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise reader.fail("nodes", "must be a non-empty list of nodes")
    z = reader.number(reader.record, "demand_bound_constant", "demand_bound_constant", minimum=0.0)
    nodes: list[gsm.GsmNode] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        path = f"nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise reader.fail(path, "must be an object")
        node_id = reader.get(raw, "id", f"{path}.id")
        if not isinstance(node_id, str | int) or isinstance(node_id, bool):
            raise reader.fail(f"{path}.id", f"must be a string, got {node_id!r}")
        node_id = str(node_id)
        if node_id in seen:
            raise reader.fail(f"{path}.id", f"duplicate node id {node_id!r}")
        seen.add(node_id)
        successors = raw.get("successors", [])
        if not isinstance(successors, list):
            raise reader.fail(f"{path}.successors", "must be a list of node ids")
        demand_sd = 0.0
        if raw.get("demand") is not None:
            demand = raw["demand"]
            if not isinstance(demand, Mapping):
                raise reader.fail(f"{path}.demand", "must be an object with mean and sd")
            reader.number(demand, "mean", f"{path}.demand.mean", default=0.0)
            demand_sd = reader.number(demand, "sd", f"{path}.demand.sd", minimum=0.0)
        outbound = raw.get("external_outbound_cst")
        nodes.append(
            gsm.GsmNode(
                id=node_id,
                processing_time=reader.integer(raw, "processing_time", f"{path}.processing_time"),
                holding_cost=reader.number(raw, "holding_cost", f"{path}.holding_cost", minimum=0.0),
                successors=tuple(str(s) for s in successors),
                demand_sd=demand_sd,
                external_inbound_cst=reader.integer(
                    raw, "external_inbound_cst", f"{path}.external_inbound_cst", default=0
                ),
                external_outbound_cst=None
                if outbound is None
                else reader.integer(raw, "external_outbound_cst", f"{path}.external_outbound_cst"),
            )
        )
    for i, node in enumerate(nodes):
        for successor in node.successors:
            if successor not in seen:
                raise reader.fail(f"nodes[{i}].successors", f"unknown node id {successor!r}")
    try:
        result = gsm.solve_gsm_tree(nodes, z)
    except gsm.NotATreeError as exc:
        raise reader.fail("nodes", f"the network must be a tree: {exc}") from exc
    except ValueError as exc:
        raise reader.fail("nodes", str(exc)) from exc
    return {"committed_service_times": result.committed_service_times, "expected_cost": result.expected_cost}


_SOLVERS = {
    "newsvendor": _solve_newsvendor,
    "sS": _solve_ss,
    "rQ": _solve_rq,
    "serial": _solve_serial,
    "gsm_tree": _solve_gsm,
}


def solve_instance(record: Mapping[str, Any]) -> SolvedInstance:
    """Validate one decoded instance, solve it, and check it against ``expected`` when present."""
    if not isinstance(record, Mapping):
        raise InvalidInput("an instance must be a JSON object")
    instance_id = record.get("id")
    if not isinstance(instance_id, str) or not instance_id:
        raise InvalidInput("missing or empty instance id", field="id")
    reader = _Reader(record, instance_id)
    instance_type = reader.get(record, "type", "type")
    if not isinstance(instance_type, str) or instance_type not in _SOLVERS:
        raise reader.fail("type", f"unknown type {instance_type!r}; known: {', '.join(INSTANCE_TYPES)}")
    answer = _SOLVERS[instance_type](reader)
    expected = record.get("expected")
    if expected is None:
        return SolvedInstance(instance_id, instance_type, answer, None)
    if not isinstance(expected, Mapping):
        raise reader.fail("expected", "must be an object")
    for key, value in expected.items():
        _check_expected_value(reader, value, f"expected.{key}")
    tolerance = record.get("tolerance", {})
    if not isinstance(tolerance, Mapping):
        raise reader.fail("tolerance", "must be an object")
    exact = tolerance.get("exact", [])
    if not isinstance(exact, list) or not all(isinstance(key, str) for key in exact):
        raise reader.fail("tolerance.exact", f"must be a list of key names, got {exact!r}")
    for key in ("cost_rel", "level_abs"):
        if key in tolerance:
            reader.number(tolerance, key, f"tolerance.{key}", minimum=0.0)
    mismatches = check_answer(answer, expected, tolerance)
    return SolvedInstance(instance_id, instance_type, answer, not mismatches, tuple(mismatches))


def _check_expected_value(reader: _Reader, value: Any, path: str) -> None:
    """An expected value is a number, or a list or object of them (levels, CSTs by node id)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_expected_value(reader, item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_expected_value(reader, item, f"{path}[{index}]")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise reader.fail(path, f"must be a finite number (or a list or object of them), got {value!r}")


def check_answer(
    answer: Mapping[str, Any], expected: Mapping[str, Any], tolerance: Mapping[str, Any]
) -> list[str]:
    """The keys of ``expected`` that ``answer`` misses, by the tolerance rules of policy-instances.md.

    Keys in ``tolerance.exact`` must be equal (element by element, key by key); ``expected_cost``
    within ``cost_rel`` relative; every other number within ``level_abs``.
    """
    exact_keys = set(tolerance.get("exact", []))
    cost_rel = float(tolerance.get("cost_rel", 0.0))
    level_abs = float(tolerance.get("level_abs", 0.0))
    mismatches: list[str] = []
    for key, want in expected.items():
        got = answer.get(key)
        if got is None:
            mismatches.append(f"{key}: no answer")
        elif key == "expected_cost":
            if not abs(float(got) - float(want)) <= cost_rel * abs(float(want)) + 1e-12 * abs(float(want)):
                mismatches.append(f"{key}: got {got:.9g}, expected {want} (relative tolerance {cost_rel:g})")
        elif not _close(got, want, 0.0 if key in exact_keys else level_abs):
            mismatches.append(f"{key}: got {got}, expected {want}")
    return mismatches


def _close(got: Any, want: Any, allowed: float) -> bool:
    if isinstance(want, Mapping):
        return (
            isinstance(got, Mapping)
            and set(map(str, got)) == set(map(str, want))
            and all(_close(got[key], want[key], allowed) for key in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(want)
            and all(_close(g, w, allowed) for g, w in zip(got, want, strict=True))
        )
    try:
        return abs(float(got) - float(want)) <= allowed
    except (TypeError, ValueError):
        return bool(got == want)


def decode_line(line: str, line_number: int) -> dict[str, Any] | None:
    """One JSON line as an object (None for a blank line); errors carry the line number."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc.msg} at column {exc.colno}", line=line_number) from exc
    except (ValueError, RecursionError) as exc:  # int() of 4,301+ digits; nesting past the recursion limit
        raise InvalidInput(f"malformed JSON: {str(exc)[:120]}", line=line_number) from None
    if not isinstance(record, dict):
        raise InvalidInput("each line must be a JSON object", line=line_number)
    return record


def parse_lines(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Decode JSON lines (blank lines skipped) into (line number, object); stops at the first bad line."""
    for number, line in enumerate(lines, start=1):
        record = decode_line(line, number)
        if record is not None:
            yield number, record
