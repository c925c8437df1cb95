"""stockmesh: inventory kept in step across a network of sites, by governed agents over one
append-only, hash-chained event ledger.

The names a program that uses the library needs, from their own modules:

    import stockmesh
    from stockmesh import commands

    store = stockmesh.open_store("sqlite:///stockmesh.db")
    stockmesh.execute(store, [
        commands.RegisterSku(idempotency_key="sku-1", sku="OAT-MILK-1L"),
        commands.RegisterSite(idempotency_key="site-1", site="STORE-LYON-02"),
        commands.ReceiveStock(idempotency_key="rcv-1", sku="OAT-MILK-1L", site="STORE-LYON-02", qty=24),
    ])
    stockmesh.catch_up(store)                          # fold the new events into the read models
    stockmesh.positions(store, site="STORE-LYON-02")   # [{"sku": "OAT-MILK-1L", "on_hand": 24, ...}]

    open_store(url)        a ledger by URL: sqlite:///FILE, postgresql://..., memory://
    execute(store, cmds)   decide commands against the ledger and append their events
    catch_up(store)        fold the events after the read models' checkpoint into them
    positions(store, ...)  stock per SKU x site from the read models, now or at a business time
    parse_command(obj)     a command from its JSON object (the shape of a line of an ingest file)
    commands, events       the command and event dataclasses (``stockmesh.domain``)
    StockmeshError ...     the exception tree drawn in ``stockmesh.domain.errors``

Each name is imported on first use, so ``import stockmesh`` (and every ``stockmesh`` command and
``python -m stockmesh...`` worker, which import it first) costs no more than an empty package.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing would cost more than the rest of this module
if TYPE_CHECKING:
    from typing import Any

    from stockmesh.bootstrap import LedgerMissing, open_store
    from stockmesh.domain import commands, events
    from stockmesh.domain.commands import parse_command
    from stockmesh.domain.errors import (
        AlreadyExists,
        ConcurrencyError,
        DomainError,
        IdempotencyConflict,
        InsufficientStock,
        InvalidInput,
        InvalidTransition,
        LedgerError,
        Rejected,
        StockmeshError,
        UnknownEntity,
    )
    from stockmesh.projections.runner import catch_up
    from stockmesh.projections.stock_positions import positions
    from stockmesh.service.execute import Outcome, execute

_ERRORS = ("StockmeshError", "InvalidInput", "DomainError", "UnknownEntity", "AlreadyExists",
           "InsufficientStock", "InvalidTransition", "IdempotencyConflict", "ConcurrencyError",
           "LedgerError", "Rejected")
# public name -> (module, attribute in it; None for the module itself)
_PUBLIC: dict[str, tuple[str, str | None]] = {
    "open_store": ("stockmesh.bootstrap", "open_store"),
    "LedgerMissing": ("stockmesh.bootstrap", "LedgerMissing"),
    "execute": ("stockmesh.service.execute", "execute"),
    "Outcome": ("stockmesh.service.execute", "Outcome"),
    "catch_up": ("stockmesh.projections.runner", "catch_up"),
    "positions": ("stockmesh.projections.stock_positions", "positions"),
    "parse_command": ("stockmesh.domain.commands", "parse_command"),
    "commands": ("stockmesh.domain.commands", None),
    "events": ("stockmesh.domain.events", None),
    **{name: ("stockmesh.domain.errors", name) for name in _ERRORS},
}

__all__ = [  # the keys of _PUBLIC, written out so that tools read them without running this
    "__version__", "open_store", "LedgerMissing", "execute", "Outcome", "catch_up", "positions", "parse_command",
    "commands", "events", "StockmeshError", "InvalidInput", "DomainError", "UnknownEntity", "AlreadyExists",
    "InsufficientStock", "InvalidTransition", "IdempotencyConflict", "ConcurrencyError", "LedgerError", "Rejected",
]


def _version() -> str:
    """The installed distribution's version; in a source tree that is not installed, pyproject's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stockmesh")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _PUBLIC:
        from importlib import import_module

        module_name, attribute = _PUBLIC[name]
        module = import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
    else:
        raise AttributeError(f"module 'stockmesh' has no attribute {name!r}")
    globals()[name] = value  # later look-ups do not come here again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
