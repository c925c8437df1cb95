"""The package's public face (``src/stockmesh/__init__.py``): its version, the names a program that
uses the library needs, and that ``import stockmesh`` imports none of them until one is used."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stockmesh
from stockmesh import bootstrap
from stockmesh.domain import commands, errors
from stockmesh.entrypoints.cli import app

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_version_is_the_installed_distributions_and_stockmesh_version_prints_it() -> None:
    installed = importlib.metadata.version("stockmesh")
    assert stockmesh.__version__ == installed
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"stockmesh {installed}\n"


def test_a_source_tree_that_is_not_installed_takes_pyprojects_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert stockmesh._version() == tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]


def test_every_public_name_is_the_object_of_its_own_module() -> None:
    assert {name: getattr(stockmesh, name) is not None for name in stockmesh.__all__} == dict.fromkeys(
        stockmesh.__all__, True)
    assert set(stockmesh.__all__) == {"__version__", *stockmesh._PUBLIC}
    assert stockmesh.open_store is bootstrap.open_store
    assert stockmesh.commands is commands and stockmesh.parse_command is commands.parse_command
    assert stockmesh.InsufficientStock is errors.InsufficientStock
    assert issubclass(stockmesh.InsufficientStock, stockmesh.StockmeshError)
    assert set(stockmesh.__all__) <= set(dir(stockmesh))
    with pytest.raises(AttributeError, match="no attribute 'reorder_pont'"):
        stockmesh.reorder_pont  # noqa: B018


def test_the_docstrings_example_runs_on_a_memory_ledger() -> None:
    store = stockmesh.open_store("memory://")
    outcomes = stockmesh.execute(store, [
        stockmesh.commands.RegisterSku(idempotency_key="sku-1", sku="OAT-MILK-1L"),
        stockmesh.commands.RegisterSite(idempotency_key="site-1", site="STORE-LYON-02"),
        stockmesh.commands.ReceiveStock(idempotency_key="rcv-1", sku="OAT-MILK-1L", site="STORE-LYON-02", qty=24),
    ])
    assert [outcome.status for outcome in outcomes] == ["applied"] * 3
    stockmesh.catch_up(store)
    [row] = stockmesh.positions(store, site="STORE-LYON-02")
    assert (row["sku"], row["on_hand"], row["available"]) == ("OAT-MILK-1L", 24, 24)


def test_import_stockmesh_imports_a_name_only_when_it_is_used() -> None:
    script = ("import sys, stockmesh\n"
              "mine = lambda: sorted(m for m in sys.modules if m.startswith('stockmesh'))\n"
              "print(mine()); stockmesh.StockmeshError; print(mine())")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    after_import, after_use = loaded.splitlines()
    assert after_import == "['stockmesh']"
    assert "'stockmesh.domain.errors'" in after_use and "'stockmesh.bootstrap'" not in after_use
