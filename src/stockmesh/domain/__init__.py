"""The pure model: SKUs, sites, stock, commands, events, errors. Standard library only.

Importing the package registers every event type (stock events and the decision events defined
beside them), so the ledger can decode any stored event."""

from stockmesh.domain import events as events
from stockmesh.domain import forecasts as forecasts
from stockmesh.domain import governance as governance
from stockmesh.domain import proposals as proposals
from stockmesh.domain import reconciliation as reconciliation
