"""Reading demand per day out of a published forecast: one function for governance and policies."""

from __future__ import annotations

import pytest

from stockmesh.domain.forecasts import daily_demand


def test_mean_from_point_and_spread_from_the_p50_p90_gap():
    published = {"point": [10.0, 12.0, 14.0], "quantiles": {"p50": [10.0, 12.0, 14.0], "p90": [12.5632] * 3}}
    mean, sd = daily_demand(published)
    assert mean == 12.0
    assert sd == pytest.approx((2.5632 + 0.5632 - 1.4368) / 3 / 1.2816)


def test_missing_parts_give_none():
    assert daily_demand(None) == (None, None)
    assert daily_demand({"point": []}) == (None, None)
    assert daily_demand({"point": [3.0]}) == (3.0, None)
