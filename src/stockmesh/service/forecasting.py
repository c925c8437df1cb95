"""The forecasting cycle against the ledger: history in, forecast facts out.

- :func:`read_demand_history` folds every ``stock:SKU@SITE`` stream into daily demand: the units
  sold (``StockShipped``, ``ReservedStockShipped``, ``BackorderFilled``) per business day
  (``occurred_at``), and a censored flag for each day on which the site had no available stock at
  some point (it opened at zero or an event left it at zero or below). A series runs from the day
  of its stream's first event to ``as_of``.
- :func:`forecast_read_model` folds every ``forecast:SKU@SITE`` stream into what the agent needs
  next time (:class:`~stockmesh.agents.forecast.LastForecast`); :func:`latest_forecasts` is the
  query for everyone else: the latest published forecast per SKU x site.
- :func:`run_forecast_cycle` reads both, lets :class:`~stockmesh.agents.forecast.DemandForecastAgent`
  decide, and appends its facts with :func:`~stockmesh.service.execute.execute`, in one
  transaction per batch of series. Series already forecast as of that day are skipped, so a re-run
  writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from stockmesh.agents.forecast import AGENT, DemandForecastAgent, DemandHistory, ForecastCycle, LastForecast
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.evolve import evolve
from stockmesh.domain.forecasts import (
    FORECAST_STREAM_PREFIX,
    ForecastDriftDetected,
    ForecastErrorRecorded,
    ForecastPublished,
)
from stockmesh.domain.model import StockState
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import Fact, execute

SALE_EVENTS = frozenset({"StockShipped", "ReservedStockShipped", "BackorderFilled"})
STOCK_PREFIX = "stock:"
FACTS_PER_TRANSACTION = 20_000


def _day(occurred_at: str) -> date:
    return date.fromisoformat(occurred_at[:10])


def _split(stream_id: str, prefix: str) -> tuple[str, str]:
    sku, _, site = stream_id.removeprefix(prefix).rpartition("@")
    return sku, site


@dataclass
class _Series:
    first: date
    last: date
    sales: dict[date, float] = field(default_factory=dict)
    out_spans: list[tuple[date, date | None]] = field(default_factory=list)


def _fold_stock_stream(stream_id: str, rows: list[Any], as_of: date | None) -> _Series | None:
    """Daily sales and stock-out days of one stock stream, in business-time order."""
    ordered = sorted(rows, key=lambda row: (row.occurred_at, row.version))
    ordered = [row for row in ordered if as_of is None or _day(row.occurred_at) <= as_of]
    if not ordered:
        return None
    series = _Series(first=_day(ordered[0].occurred_at), last=_day(ordered[-1].occurred_at))
    state: StockState | None = None
    out_since: date | None = None  # the shelf has been empty since this day
    for row in ordered:
        event = codec.decode_event(row.type, row.schema_version, row.data)
        day = _day(row.occurred_at)
        state = evolve(stream_id, state, event)  # type: ignore[assignment]
        assert isinstance(state, StockState)
        if row.type in SALE_EVENTS:
            series.sales[day] = series.sales.get(day, 0.0) + float(getattr(event, "qty", 0))
        if state.available <= 0:
            if out_since is None:
                out_since = day
        elif out_since is not None:
            series.out_spans.append((out_since, day))  # empty from out_since, restocked on day
            out_since = None
    if out_since is not None:
        series.out_spans.append((out_since, None))
    return series


def read_demand_history(store: EventStore, as_of: date | None = None) -> DemandHistory:
    """Daily demand per SKU x site from the stock streams, up to ``as_of`` (default: the last
    business day in them). Raises ``InvalidInput`` when the ledger holds no stock stream."""
    folded: dict[tuple[str, str], _Series] = {}
    for stream_id in store.stream_ids(STOCK_PREFIX):
        series = _fold_stock_stream(stream_id, store.read_stream(stream_id), as_of)
        if series is not None:
            folded[_split(stream_id, STOCK_PREFIX)] = series
    if not folded:
        raise InvalidInput("the ledger has no stock movements to forecast from" +
                           (f" up to {as_of}" if as_of else ""))
    last_day = as_of or max(series.last for series in folded.values())
    first_day = min(series.first for series in folded.values())
    n_days = (last_day - first_day).days + 1
    keys = sorted(folded)
    sales = np.full((len(keys), n_days), np.nan)
    censored = np.zeros((len(keys), n_days), dtype=bool)
    for row, key in enumerate(keys):
        series = folded[key]
        start = (series.first - first_day).days
        sales[row, start:] = 0.0
        for day, qty in series.sales.items():
            sales[row, (day - first_day).days] = qty
        for begin, end in series.out_spans:
            stop = n_days if end is None else (end - first_day).days + 1  # the restock day was short too
            censored[row, (begin - first_day).days : stop] = True
    return DemandHistory(
        sku=[sku for sku, _ in keys],
        site=[site for _, site in keys],
        first_day=first_day,
        sales=sales,
        censored=censored,
    )


# --------------------------------------------------------------------------------------------------
# The forecast read model


@dataclass
class _ForecastFold:
    published: ForecastPublished | None = None
    selected_as_of: date | None = None
    scaled_errors: list[float] = field(default_factory=list)
    errors_through: date | None = None
    drifts: int = 0
    last_drift: ForecastDriftDetected | None = None


def _fold_forecast_stream(rows: Iterable[Any]) -> _ForecastFold:
    fold = _ForecastFold()
    for row in rows:
        event = codec.decode_event(row.type, row.schema_version, row.data)
        if isinstance(event, ForecastPublished):
            fold.published = event
            if event.reselected:
                fold.selected_as_of = date.fromisoformat(event.as_of)
                fold.scaled_errors = []
        elif isinstance(event, ForecastErrorRecorded):
            fold.scaled_errors.extend(event.scaled_errors)
            fold.scaled_errors.extend([float("nan")] * len(event.censored_dates))
            fold.errors_through = date.fromisoformat(event.through)
        elif isinstance(event, ForecastDriftDetected):
            fold.drifts += 1
            fold.last_drift = event
    return fold


def _forecast_folds(store: EventStore) -> dict[tuple[str, str], _ForecastFold]:
    folds = {}
    for stream_id in store.stream_ids(FORECAST_STREAM_PREFIX):
        fold = _fold_forecast_stream(store.read_stream(stream_id))
        if fold.published is not None:
            folds[_split(stream_id, FORECAST_STREAM_PREFIX)] = fold
    return folds


def forecast_read_model(store: EventStore) -> dict[tuple[str, str], LastForecast]:
    """Per SKU x site, what the agent needs of its latest forecast (see ``LastForecast``)."""
    model = {}
    for key, fold in _forecast_folds(store).items():
        published = fold.published
        assert published is not None
        model[key] = LastForecast(
            forecast_id=published.forecast_id,
            version=published.version,
            model=published.model,
            as_of=date.fromisoformat(published.as_of),
            start=date.fromisoformat(published.start),
            point=published.point,
            p90=published.quantiles["0.9"],
            error_scale=float(published.accuracy["error_scale"]),
            selected_as_of=fold.selected_as_of or date.fromisoformat(published.as_of),
            scaled_errors=tuple(fold.scaled_errors),
            errors_through=fold.errors_through,
        )
    return model


def latest_forecasts(store: EventStore, *, sku: str | None = None, site: str | None = None) -> list[dict[str, Any]]:
    """The latest published forecast of each SKU x site (optionally one SKU or site), as dicts:
    the ``ForecastPublished`` fields plus ``drifts`` (how many drifts the series has had)."""
    rows = []
    for (row_sku, row_site), fold in sorted(_forecast_folds(store).items()):
        if (sku is not None and row_sku != sku) or (site is not None and row_site != site):
            continue
        published = fold.published
        assert published is not None
        rows.append({**codec.loads(codec.encode_event(published)), "drifts": fold.drifts})
    return rows


# --------------------------------------------------------------------------------------------------
# The cycle


@dataclass(frozen=True)
class ForecastRunReport:
    """What a cycle did: series forecast and skipped, re-selections by reason, drifts, events."""

    as_of: date
    series: int
    skipped_up_to_date: int
    published: int
    reselected: dict[str, int]
    errors_recorded: int
    drifted: list[tuple[str, str]]
    events_written: int
    provenance: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "series": self.series,
            "skipped_up_to_date": self.skipped_up_to_date,
            "published": self.published,
            "reselected": self.reselected,
            "errors_recorded": self.errors_recorded,
            "drifted": [f"{sku}@{site}" for sku, site in self.drifted],
            "events_written": self.events_written,
            "provenance": self.provenance,
        }


def run_forecast_cycle(
    store: EventStore,
    agent: DemandForecastAgent | None = None,
    *,
    as_of: date | None = None,
    actor: str = AGENT,
) -> ForecastRunReport:
    """Forecast every SKU x site in the ledger as of ``as_of`` and append the facts (see module)."""
    agent = agent or DemandForecastAgent()
    history = read_demand_history(store, as_of)
    previous = forecast_read_model(store)
    day = history.as_of
    todo = [
        index
        for index, key in enumerate(zip(history.sku, history.site, strict=True))
        if key not in previous or previous[key].as_of < day
    ]
    skipped = history.n_series - len(todo)
    if not todo:
        return ForecastRunReport(day, history.n_series, skipped, 0, {}, 0, [], 0, {})
    if skipped:
        history = _rows(history, np.asarray(todo))
    cycle = agent.decide(history, previous)
    written = _append(store, cycle, day, actor)
    return ForecastRunReport(
        as_of=day,
        series=history.n_series + skipped,
        skipped_up_to_date=skipped,
        published=cycle.published,
        reselected=cycle.reselected,
        errors_recorded=cycle.errors_recorded,
        drifted=cycle.drifted,
        events_written=written,
        provenance=cycle.provenance,
    )


def _rows(history: DemandHistory, rows: np.ndarray) -> DemandHistory:
    return DemandHistory(
        sku=[history.sku[index] for index in rows.tolist()],
        site=[history.site[index] for index in rows.tolist()],
        first_day=history.first_day,
        sales=history.sales[rows],
        censored=history.censored[rows],
        promotions=None if history.promotions is None else history.promotions[rows],
        future_promotions=None if history.future_promotions is None else history.future_promotions[rows],
    )


def _append(store: EventStore, cycle: ForecastCycle, day: date, actor: str) -> int:
    occurred_at = f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00"
    metadata = {"actor": actor, "source": "forecast run", "as_of": day.isoformat(),
                "correlation_id": f"forecast-run:{day.isoformat()}"}
    facts = [Fact(stream_id, event, metadata, occurred_at) for stream_id, event in cycle.facts]
    for begin in range(0, len(facts), FACTS_PER_TRANSACTION):
        execute(store, [], facts=facts[begin : begin + FACTS_PER_TRANSACTION])
    return len(facts)

