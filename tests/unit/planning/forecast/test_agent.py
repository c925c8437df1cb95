"""DemandForecastAgent without a ledger: arrays in, forecast facts out."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from stockmesh.agents.forecast import DemandForecastAgent, DemandHistory, LastForecast
from stockmesh.domain.forecasts import ForecastDriftDetected, ForecastErrorRecorded, ForecastPublished
from stockmesh.planning.forecast import ForecastSettings

FIRST_DAY = date(2025, 1, 1)
SKUS = ["OAT-MILK-1L", "RYE-BREAD-500G", "COFFEE-BEANS-1KG"]
SITE = "STORE-LYON-02"


def _history(sales: np.ndarray, censored: np.ndarray | None = None) -> DemandHistory:
    return DemandHistory(
        sku=SKUS[: sales.shape[0]],
        site=[SITE] * sales.shape[0],
        first_day=FIRST_DAY,
        sales=sales.astype(float),
        censored=np.zeros(sales.shape, dtype=bool) if censored is None else censored,
    )


def _published(facts: list[tuple[str, object]]) -> list[ForecastPublished]:
    return [event for _, event in facts if isinstance(event, ForecastPublished)]


def _as_last(event: ForecastPublished, selected_as_of: date | None = None) -> LastForecast:
    return LastForecast(
        forecast_id=event.forecast_id,
        version=event.version,
        model=event.model,
        as_of=date.fromisoformat(event.as_of),
        start=date.fromisoformat(event.start),
        point=event.point,
        p90=event.quantiles["0.9"],
        error_scale=event.accuracy["error_scale"],
        selected_as_of=selected_as_of or date.fromisoformat(event.as_of),
    )


def test_first_cycle_publishes_one_forecast_per_series_with_provenance() -> None:
    rng = np.random.default_rng(1)
    sales = rng.poisson([[4.0], [20.0], [0.3]], size=(3, 140))
    cycle = DemandForecastAgent(horizon=14, lead_time=5).decide(_history(sales))
    published = _published(cycle.facts)
    assert [(stream, event.version) for stream, event in cycle.facts] == [
        (f"forecast:{sku}@{SITE}", 1) for sku in SKUS
    ]
    assert cycle.reselected == {"initial": 3} and cycle.errors_recorded == 0
    for event, mean in zip(published, (4.0, 20.0, 0.3), strict=True):
        assert event.as_of == "2025-05-20" and event.start == "2025-05-21" and len(event.point) == 14
        assert event.reason == "initial" and event.reselected
        assert abs(np.mean(event.point) - mean) < max(0.35 * mean, 0.3)
        levels = [event.quantiles[level] for level in ("0.5", "0.9", "0.95", "0.99")]
        assert np.all(np.diff(np.array(levels), axis=0) >= 0)
        assert event.lead_time == 5 and event.lead_time_demand["0.99"] >= event.lead_time_demand["0.5"]
        assert event.data_window == {"first": "2025-01-01", "last": "2025-05-20", "days": 140, "censored_days": 0}
    assert published[2].demand_class in {"intermittent", "lumpy"}
    assert cycle.provenance["metric"] == "rmsse"


def test_censored_days_do_not_pull_the_forecast_down() -> None:
    rng = np.random.default_rng(2)
    demand = rng.poisson(12.0, size=(1, 150)).astype(float)
    empty_shelf = np.zeros_like(demand, dtype=bool)
    empty_shelf[0, 100:112] = empty_shelf[0, 138:150] = True
    sales = np.where(empty_shelf, 0.0, demand)
    agent = DemandForecastAgent(horizon=7, lead_time=7)
    blind = _published(agent.decide(_history(sales)).facts)[0]
    aware = _published(agent.decide(_history(sales, empty_shelf)).facts)[0]
    assert aware.data_window["censored_days"] == 24
    assert np.mean(aware.point) > 10.5 and np.mean(blind.point) < np.mean(aware.point) - 2.0


def test_errors_are_recorded_and_a_shift_raises_drift_and_reselection() -> None:
    rng = np.random.default_rng(3)
    sales = rng.poisson(6.0, size=(2, 160)).astype(float)
    agent = DemandForecastAgent(horizon=28, lead_time=7, reselect_every=90)
    first = _published(agent.decide(_history(sales[:, :130])).facts)
    previous = {(event.sku, event.site): _as_last(event) for event in first}
    sales[1, 130:] += rng.poisson(10.0, size=30)  # RYE-BREAD's demand more than doubles
    censored = np.zeros(sales.shape, dtype=bool)
    censored[0, 135] = True  # one stock-out day: no error for it
    cycle = agent.decide(_history(sales, censored), previous)

    errors = [event for _, event in cycle.facts if isinstance(event, ForecastErrorRecorded)]
    # The forecast made on 2025-05-10 covers 28 days, through 2025-06-07.
    assert len(errors) == 2 and errors[0].through == "2025-06-07"
    assert len(errors[0].dates) == 27 and errors[0].censored_dates == ["2025-05-16"]
    assert len(errors[1].dates) == 28 and np.mean(errors[1].errors) > 7.0
    drifts = [(stream, event) for stream, event in cycle.facts if isinstance(event, ForecastDriftDetected)]
    assert [stream for stream, _ in drifts] == [f"forecast:{SKUS[1]}@{SITE}"]
    assert drifts[0][1].direction == "up" and drifts[0][1].forecast_id == f"{SKUS[1]}@{SITE}/v1"

    steady, shifted = _published(cycle.facts)
    assert (steady.reason, steady.reselected, steady.version) == ("kept", False, 2)
    assert steady.model == first[0].model
    assert (shifted.reason, shifted.reselected) == ("drift", True)
    assert np.mean(shifted.point) > np.mean(first[1].point) + 4.0


def test_a_model_is_chosen_afresh_after_reselect_every_days() -> None:
    sales = np.random.default_rng(4).poisson(9.0, size=(1, 150)).astype(float)
    agent = DemandForecastAgent(horizon=7, lead_time=7, reselect_every=28)
    first = _published(agent.decide(_history(sales[:, :120])).facts)[0]
    previous = {(first.sku, first.site): _as_last(first, selected_as_of=FIRST_DAY + timedelta(days=100))}
    again = _published(agent.decide(_history(sales), previous).facts)[0]
    assert again.reason == "periodic" and again.version == 2


def test_the_agent_works_without_expensive_candidates() -> None:
    sales = np.random.default_rng(5).poisson(3.0, size=(2, 90)).astype(float)
    settings = ForecastSettings(horizon=7, expensive_models=())
    cycle = DemandForecastAgent(horizon=7, lead_time=3, settings=settings).decide(_history(sales))
    assert cycle.published == 2 and cycle.provenance["expensive"] is None
