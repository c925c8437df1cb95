"""The exception tree: every exception class defined under src/stockmesh derives from
``StockmeshError`` and is drawn, under its parent, in the docstring of ``domain/errors.py``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import stockmesh
from stockmesh.domain import errors
from stockmesh.domain.errors import InvalidInput, Problem, Rejected, StockmeshError, UnknownEntity

BRANCH = re.compile(r"^ {4}(?P<indent>(?: |│)*)[├└]── (?P<name>\w+)")


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined at the top of a module of the package, by name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(stockmesh.__path__, "stockmesh."):
        if info.name.endswith(".__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional extra not installed here: its module cannot be read
            if exc.name is not None and exc.name.split(".")[0] == "stockmesh":
                raise
            continue
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                assert found.setdefault(obj.__name__, obj) is obj, f"two exception classes named {obj.__name__}"
    return found


def drawing() -> dict[str, str | None]:
    """Each class in the docstring's tree and the class drawn above it (None for the root)."""
    doc = errors.__doc__ or ""
    lines = doc.splitlines()
    root = next(line.strip() for line in lines if line.strip() == "StockmeshError")
    parents: dict[str, str | None] = {root: None}
    stack = [root]
    for line in lines:
        branch = BRANCH.match(line)
        if branch is None:
            continue
        depth = len(branch["indent"]) // 5 + 1
        del stack[depth:]
        name = branch["name"]
        assert name not in parents, f"{name} is drawn twice"
        parents[name] = stack[depth - 1]
        stack.append(name)
    return parents


def drawn_parent(cls: type[BaseException]) -> str | None:
    """The nearest base of ``cls`` in our tree: what the drawing must show above it."""
    if cls is StockmeshError:
        return None
    return next((base.__name__ for base in cls.__mro__[1:] if issubclass(base, StockmeshError)), "(outside the tree)")


def test_the_package_has_exception_classes_beyond_the_domain() -> None:
    names = set(exception_classes())
    assert {"StockmeshError", "Rejected", "X12Error", "BusUnavailable", "LedgerMissing"} <= names


def test_every_public_exception_derives_from_stockmesh_error() -> None:
    outside = sorted(name for name, cls in exception_classes().items()
                     if not name.startswith("_") and not issubclass(cls, StockmeshError))
    assert outside == []


def test_every_public_exception_is_drawn_under_its_parent() -> None:
    tree = drawing()
    classes = {name: cls for name, cls in exception_classes().items() if not name.startswith("_")}
    assert {name: tree.get(name, "(not drawn)") for name in classes} == {
        name: drawn_parent(cls) for name, cls in classes.items()}
    assert sorted(set(tree) - set(classes)) == []  # nothing drawn that the code does not define


def test_private_exceptions_are_named_beside_the_drawing() -> None:
    private = [name for name in exception_classes() if name.startswith("_")]
    assert [name for name in private if f"``{name}``" not in (errors.__doc__ or "")] == []


def test_one_rejected_for_every_inbound_format() -> None:
    from stockmesh.adapters import epcis, snapshots, x12
    from stockmesh.ledger.memory import MemoryEventStore
    from stockmesh.service.execute import BatchRejected

    store = MemoryEventStore()
    with pytest.raises(Rejected) as from_x12:
        x12.ingest_x12(store, "ISA*00*bad")
    with pytest.raises(Rejected) as from_snapshot:
        snapshots.parse_snapshot(b"sku,site,on_hand\nOAT-MILK-1L,STORE-LYON-02,-4\n")
    with pytest.raises(Rejected) as from_epcis:
        epcis.ingest(store, [{"type": "ObjectEvent", "eventTime": "2026-01-05T09:00:00Z", "action": "OBSERVE",
                              "bizStep": "no_such_step"}], epcis.load_mapping(None))
    assert epcis.EpcisRejected is Rejected and issubclass(BatchRejected, Rejected)
    for refused in (from_x12.value, from_snapshot.value, from_epcis.value):
        assert str(refused).endswith("; nothing written")
        assert isinstance(refused.error, InvalidInput) and refused.errors[0].error is refused.error
    assert from_snapshot.value.errors[0].line == 2 and from_epcis.value.errors[0].field == "events[0].bizStep"


def test_a_problem_reads_like_its_error_and_unpacks_as_line_and_error() -> None:
    unknown = UnknownEntity("unknown SKU 'OAT-MILK-2L'", field="sku")
    problem = Problem(7, unknown)
    line, error = problem
    assert (line, error, problem.field, problem.message) == (7, unknown, "sku", "unknown SKU 'OAT-MILK-2L'")
    assert str(problem) == "line 7: unknown SKU 'OAT-MILK-2L'"
    named = InvalidInput("must be positive", field="on_hand", line=3)
    assert str(Problem(3, named)) == str(named) == "line 3, field 'on_hand': must be positive"
    refused = Rejected([(named), Problem(9, unknown)])
    assert [p.line for p in refused.errors] == [3, 9]
    assert str(refused) == "line 3, field 'on_hand': must be positive (and 1 more); nothing written"
    assert str(Rejected([Problem(9, unknown)], summary="1 invalid line(s)")) == "1 invalid line(s); nothing written"
