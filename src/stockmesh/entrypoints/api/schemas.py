"""Request and response schemas. Every request model forbids unknown fields (no mass assignment:
``approved``, ``actor`` or ``idempotency_key`` in a body are refused, not ignored)."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, create_model

from stockmesh.domain.commands import COMMANDS, MAX_LINES, MAX_QTY
from stockmesh.domain.model import NegativeStockPolicy, SiteKind

ID = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/#+\-]{0,127}$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Instant = Annotated[str, Field(min_length=10, max_length=40)]
Qty = Annotated[StrictInt, Field(gt=0, le=MAX_QTY)]
Money = Annotated[StrictFloat | StrictInt, Field(ge=0, le=MAX_QTY, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200_000)


# --- commands: one model per domain command, built from the command dataclasses -------------------------

class SalesLine(Strict):
    sku: ID
    qty: Qty


_FIELD_TYPES: dict[str, Any] = {
    "sku": ID, "site": ID, "from_site": ID, "to_site": ID, "supplier": ID, "reservation_id": ID,
    "transfer_id": ID, "po_id": ID, "lot": ID, "qty": Qty,
    "counted": Annotated[StrictInt, Field(ge=0, le=MAX_QTY)],
    "delta": Annotated[StrictInt, Field(ge=-MAX_QTY, le=MAX_QTY)],
    "reason": Text, "unit_cost": Annotated[StrictFloat | StrictInt, Field(ge=0, le=MAX_QTY, allow_inf_nan=False)],
    "pack_size": Annotated[StrictInt, Field(ge=1, le=10**6)],
    "shelf_life_days": Annotated[StrictInt, Field(ge=1, le=36500)],
    "base_unit": Annotated[str, Field(min_length=1, max_length=20)],
    "kind": Literal[tuple(k.value for k in SiteKind)],  # type: ignore[misc]
    "negative_stock": Literal[tuple(p.value for p in NegativeStockPolicy)],  # type: ignore[misc]
    "expiry": Instant, "expected_at": Instant, "occurred_at": Instant,
    "lines": Annotated[list[SalesLine], Field(min_length=1, max_length=MAX_LINES)],
    "mode": ID,
}
_SERVER_FIELDS = {"idempotency_key", "actor"}  # from the Idempotency-Key header and the token


def _command_model(name: str, cls: type) -> type[BaseModel]:
    spec: dict[str, Any] = {"command": (Literal[name], ...)}  # type: ignore[valid-type]
    for f in fields(cls):
        if f.name in _SERVER_FIELDS:
            continue
        kind = _FIELD_TYPES[f.name]
        required = f.default is MISSING and f.default_factory is MISSING
        spec[f.name] = (kind, ...) if required else (kind | None, None)
    return create_model(f"{name}Body", __base__=Strict, __doc__=(cls.__doc__ or name).strip(), **spec)


COMMAND_MODELS: dict[str, type[BaseModel]] = {name: _command_model(name, cls) for name, cls in COMMANDS.items()}
CommandBody = Annotated[Union[tuple(COMMAND_MODELS.values())], Field(discriminator="command")]  # type: ignore[valid-type]  # noqa: UP007


class CommandAccepted(BaseModel):
    status: str
    command: str
    first_position: int | None
    last_position: int | None
    events: int


# --- proposals -----------------------------------------------------------------------------------

class ProposalIn(Strict):
    """A proposal made by a person (or an outside agent): reviewed by the governing policy."""

    action: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    command: CommandBody
    value: Money
    reasons: Annotated[list[Reason], Field(max_length=20)] = []
    cover_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = None


class DecisionIn(Strict):
    reason: Reason


class ProposalDecided(BaseModel):
    proposal_id: str
    decision: str
    status: str
    reasons: list[str]
    risk_score: float | None
    policy_version: str


# --- policies ------------------------------------------------------------------------------------

class PolicyIn(Strict):
    yaml: Annotated[str, Field(min_length=1, max_length=200_000)]


class ActivateIn(Strict):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Reason


class RollbackIn(Strict):
    reason: Reason
    to_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class CanaryIn(Strict):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    share: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    max_regression: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[
        float, Field(ge=0, le=10, allow_inf_nan=False)]], Field(max_length=20)] | None = None


class ShadowIn(Strict):
    version: Annotated[str, Field(min_length=1, max_length=64)]


class StopIn(Strict):
    mode: Literal["canary", "shadow"]
    reason: Reason


KpiMap = Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[float, Field(allow_inf_nan=False)]],
                   Field(max_length=50)]


class CanaryKpisIn(Strict):
    control: KpiMap
    canary: KpiMap
    source: Annotated[str, Field(min_length=1, max_length=64)] = "twin"


class KillSwitchIn(Strict):
    engaged: bool
    reason: Reason
    site: ID | None = None
