"""The first ``agents`` policy: forecast-driven (s, S) from censored sales only.

It sees what a deployment sees: sales (a day that ended with an empty shelf is *censored*: its
sales are a lower bound of demand, so it is left out of the estimates rather than read as zero),
receipts (realised lead times per lane), the promotions calendar and supplier notices. No true
distribution, no future demand.

Per row, every day:

1. weekday index per site, from uncensored non-promotion days of the trailing window;
2. base level: exponentially weighted mean of deseasonalised uncensored non-promotion sales, and a
   per-site trend (ratio of the last 28 days to the 28 before), damped and capped;
3. dispersion: the row's variance of deseasonalised sales, at least Poisson;
4. promotion uplift: pooled over all rows, from uncensored promotion days against the base
   forecast of those days;
5. lead time per lane: mean and spread of observed receipts, shrunk towards the quoted mean;
   an announced disruption multiplies it for orders placed now;
6. demand over the lead time: mixture over a discretised lead-time distribution of the day-by-day
   forecast (weekday, trend, promotions on the calendar), plus the level's estimation error;
7. s = its negative-binomial quantile at the lost-sales critical ratio p mu / (p mu + h Q), with
   Q = max(EOQ, mu); S = s + Q.

``decide`` is a function of the observation and of the last good level per row (kept so that a
row censored for the whole window still has an estimate). Provenance of every row is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.simulation.policies.base import Decision, reorder_to_target
from stockmesh.simulation.policies.numerics import (
    economic_order_quantity,
    lost_sales_critical_ratio,
    mixture_moments,
    negative_binomial_quantile,
)


@dataclass(frozen=True)
class AgentsSettings:
    """Tuning of the agents policy; every value is a modelling choice, none reads the truth."""

    window_days: int = 56
    promotion_window_days: int = 182
    level_half_life_days: float = 21.0
    trend_damping: float = 0.5
    trend_cap: float = 0.3
    lead_time_prior_receipts: float = 5.0
    promotion_prior_uplift: float = 1.0
    promotion_prior_weight: float = 20.0
    min_valid_days: int = 7
    estimation_error: bool = True
    shelf_life_share: float = 0.25
    promotion_refresh_days: int = 7
    upstream_penalty_share: float = 0.05


class AgentsPolicy:
    """Forecast-driven (s, S) on censored sales; see the module docstring."""

    name = "agents"

    def __init__(self, settings: AgentsSettings | None = None) -> None:
        self.settings = settings or AgentsSettings()
        self._level_memory: np.ndarray | None = None
        self._variance_memory: np.ndarray | None = None
        self._uplift: tuple[int, np.ndarray] | None = None

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        cfg = self.settings
        n_all = observation.on_hand.shape[0]
        if self._level_memory is None:
            self._level_memory = np.full(n_all, np.nan)
            self._variance_memory = np.full(n_all, np.nan)
        assert self._variance_memory is not None
        sales, censored, days = observation.history(cfg.window_days, rows)
        promo_past = observation.promotion_active[days][:, rows]
        weekday_past = observation.weekday[days]
        valid = ~censored & ~promo_past
        site = observation.row_site[rows]

        weekday_index = _weekday_index(sales, valid, weekday_past, site)
        deseasonalised = sales / _index_for(weekday_index, weekday_past, site)
        age = days[-1] - days
        weights = np.power(0.5, age / cfg.level_half_life_days)[:, None] * valid
        weight_sum = weights.sum(axis=0)
        n_valid = valid.sum(axis=0)
        level = np.where(weight_sum > 0, (weights * deseasonalised).sum(axis=0) / np.maximum(weight_sum, 1e-12), 0)
        mean_valid = np.where(n_valid > 0, (deseasonalised * valid).sum(axis=0) / np.maximum(n_valid, 1), 0)
        variance = np.where(
            n_valid > 1,
            ((deseasonalised - mean_valid) ** 2 * valid).sum(axis=0) / np.maximum(n_valid - 1, 1),
            mean_valid,
        )
        # rows censored for most of the window keep their last good estimate
        good = n_valid >= cfg.min_valid_days
        memory_level = self._level_memory[rows]
        memory_variance = self._variance_memory[rows]
        fallback = ~good & ~np.isnan(memory_level)
        level = np.where(fallback, np.maximum(memory_level, level), level)
        variance = np.where(fallback, np.maximum(memory_variance, variance), variance)
        self._level_memory[rows] = np.where(good, level, self._level_memory[rows])
        self._variance_memory[rows] = np.where(good, variance, self._variance_memory[rows])
        variance = np.maximum(variance, level)

        trend = _site_trend(deseasonalised, valid, site, cfg)
        uplift = self._promotion_uplift(observation, rows, level, weekday_index, site)

        # lead time of an order placed today
        receipts = observation.lane_receipts[rows]
        observed_mean = np.where(receipts > 0, observation.lane_lead_time_sum[rows] / np.maximum(receipts, 1), 0)
        observed_variance = np.where(
            receipts > 1,
            (observation.lane_lead_time_sumsq[rows] - receipts * observed_mean**2) / np.maximum(receipts - 1, 1),
            0,
        )
        prior = cfg.lead_time_prior_receipts
        quoted = observation.lane_lead_time_mean[rows]
        lead_time_mean = (prior * quoted + receipts * observed_mean) / (prior + receipts)
        lead_time_variance = receipts / (prior + receipts) * np.maximum(observed_variance, 0)
        notice = observation.notice_factor[rows]
        lead_time_mean = lead_time_mean * notice
        lead_time_variance = lead_time_variance * notice**2

        # day-by-day forecast over the longest plausible lead time
        horizon = int(np.ceil((lead_time_mean + 4 * np.sqrt(lead_time_variance)).max(initial=1))) + 2
        future = np.arange(observation.day + 1, observation.day + 1 + horizon)
        in_run = np.minimum(future, observation.promotion_active.shape[0] - 1)
        weekday_future = observation.weekday[in_run]
        promo_future = observation.promotion_active[in_run][:, rows] & (future < observation.promotion_active.shape[0])[:, None]
        steps = (np.arange(1, horizon + 1) + cfg.level_half_life_days)[:, None]
        growth = np.power(1 + trend, steps)
        daily_mean = level * _index_for(weekday_index, weekday_future, site) * growth * np.where(promo_future, uplift, 1.0)
        # negative-binomial shape from the row's moments: variance = mean + mean^2 / shape
        extra_variance_ratio = np.maximum(variance - level, 0) / np.maximum(level, 1e-9) ** 2
        daily_variance = daily_mean + daily_mean**2 * extra_variance_ratio
        zero = np.zeros((1, rows.size))
        cumulative_mean = np.vstack([zero, np.cumsum(daily_mean, axis=0)])
        cumulative_variance = np.vstack([zero, np.cumsum(daily_variance, axis=0)])
        if cfg.estimation_error:
            # the level itself is uncertain: its error is common to every day of the period
            level_error = variance / np.maximum(n_valid, 1) * (cumulative_mean / np.maximum(level, 1e-9)) ** 2
            cumulative_variance = cumulative_variance + level_error
        pmf = _discretised_lead_time(lead_time_mean, lead_time_variance, horizon + 1)
        lead_demand_mean, lead_demand_variance = mixture_moments(cumulative_mean, cumulative_variance, pmf)
        period = pmf @ np.arange(horizon + 1)
        mu = lead_demand_mean / np.maximum(period, 1)
        holding = observation.holding_cost_per_day[rows]
        eoq = economic_order_quantity(observation.order_cost[rows], mu, holding)
        quantity = np.maximum(eoq, mu)
        shelf_life = observation.shelf_life_days[rows]
        perishable = shelf_life > 0
        # a perishable order must sell before it expires: cap the cycle at a share of the shelf life
        quantity = np.where(perishable, np.minimum(quantity, np.maximum(mu, mu * shelf_life * cfg.shelf_life_share)),
                            quantity)
        # a DC short of stock delays its stores' replenishment, which their own safety stock mostly
        # covers: only a share of the sale is at risk upstream
        penalty = observation.lost_sale_penalty[rows] * np.where(
            observation.row_echelon[rows] > 0, cfg.upstream_penalty_share, 1.0)
        ratio = lost_sales_critical_ratio(penalty, mu, holding, quantity)
        reorder_point = negative_binomial_quantile(lead_demand_mean, lead_demand_variance, ratio)
        order_up_to = reorder_point + np.ceil(quantity)
        position = observation.inventory_position[rows]
        return reorder_to_target(
            self.name, rows, position, reorder_point, order_up_to,
            "s = NB quantile of forecast lead-time demand at CR = p mu / (p mu + h Q); S = s + max(EOQ, mu)",
            inputs={"level": level, "daily_variance": variance, "valid_days": n_valid.astype(float),
                    "trend_per_day": trend, "promotion_uplift": uplift, "lead_time_mean": lead_time_mean,
                    "lead_time_variance": lead_time_variance, "supplier_notice_factor": notice,
                    "lead_time_demand_mean": lead_demand_mean, "lead_time_demand_variance": lead_demand_variance,
                    "inventory_position": position},
            parameters={"critical_ratio": ratio, "eoq": eoq, "order_quantity_target": quantity,
                        "window_days": float(cfg.window_days), "level_half_life_days": cfg.level_half_life_days},
        )

    def _promotion_uplift(self, observation: Observation, rows: np.ndarray, level: np.ndarray,
                          weekday_index: np.ndarray, site: np.ndarray) -> np.ndarray:
        """Pooled uplift of promotion days: their sales over the base forecast of those days."""
        cfg = self.settings
        if self._uplift is None and not observation.promotion_active.any():
            self._uplift = (10**9, np.array(cfg.promotion_prior_uplift))
        if self._uplift is not None and observation.day - self._uplift[0] < cfg.promotion_refresh_days:
            return np.broadcast_to(self._uplift[1], rows.shape)
        sales, censored, days = observation.history(cfg.promotion_window_days, rows)
        promo = observation.promotion_active[days][:, rows] & ~censored
        if not promo.any():
            return np.full(rows.size, cfg.promotion_prior_uplift)
        expected = level * _index_for(weekday_index, observation.weekday[days], site)
        sold = (sales * promo).sum()
        base = (expected * promo).sum()
        prior = cfg.promotion_prior_weight * max(base / max(promo.sum(), 1), 1e-9)
        uplift = max((sold + cfg.promotion_prior_uplift * prior) / (base + prior), 1.0)
        if observation.row_echelon[rows].max() == 0:
            # pooled over the stores; refreshed weekly (DC rows never carry promotions)
            self._uplift = (observation.day, np.array(uplift))
        return np.full(rows.size, uplift)


def _weekday_index(sales: np.ndarray, valid: np.ndarray, weekday: np.ndarray, site: np.ndarray) -> np.ndarray:
    """[7, n_sites_max] multiplicative weekday index per site, mean 1 over the week."""
    n_sites = int(site.max(initial=0)) + 1
    one_hot_day = np.eye(7)[weekday]  # [days, 7]
    site_matrix = np.zeros((site.size, n_sites))
    site_matrix[np.arange(site.size), site] = 1
    sold = one_hot_day.T @ (sales * valid) @ site_matrix  # [7, sites]
    count = one_hot_day.T @ valid.astype(np.float64) @ site_matrix
    seen = count > 0
    rate = np.where(seen, sold / np.maximum(count, 1), 0.0)
    overall = rate.sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
    index = np.where(seen & (overall > 0), rate / np.where(overall > 0, overall, 1), 1.0)
    return np.maximum(index, 0.05)


def _index_for(weekday_index: np.ndarray, weekdays: np.ndarray, site: np.ndarray) -> np.ndarray:
    """[days, rows] weekday index of each row's site on each of ``weekdays``."""
    return weekday_index[weekdays][:, site]


def _site_trend(deseasonalised: np.ndarray, valid: np.ndarray, site: np.ndarray, cfg: AgentsSettings) -> np.ndarray:
    """Daily growth per row, from its site's last 28 days against the 28 before, damped and capped."""
    days = deseasonalised.shape[0]
    if days < 28:
        return np.zeros(site.size)
    half = days // 2
    n_sites = int(site.max(initial=0)) + 1

    def site_rate(part: slice) -> np.ndarray:
        sold = np.bincount(site, weights=(deseasonalised[part] * valid[part]).sum(axis=0), minlength=n_sites)
        count = np.bincount(site, weights=valid[part].sum(axis=0), minlength=n_sites)
        return sold / np.maximum(count, 1)

    early, late = site_rate(slice(0, half)), site_rate(slice(half, days))
    ratio = np.where(early > 0, late / np.maximum(early, 1e-12), 1.0)
    ratio = np.clip(ratio, 1 - cfg.trend_cap, 1 + cfg.trend_cap)
    growth = (np.power(ratio, 1.0 / half) - 1) * cfg.trend_damping
    return growth[site]


def _discretised_lead_time(mean: np.ndarray, variance: np.ndarray, width: int) -> np.ndarray:
    """[rows, width] pmf of a lead time with this mean and variance on whole days >= 1."""
    from scipy.special import ndtr

    days = np.arange(width)
    sd = np.sqrt(np.maximum(variance, 0))
    point = sd < 0.25
    pmf = np.zeros((mean.size, width))
    spread = np.flatnonzero(~point)
    if spread.size:
        scale = sd[spread][:, None]
        centre = mean[spread][:, None]
        pmf[spread] = ndtr((days[None, :] + 0.5 - centre) / scale) - ndtr((days[None, :] - 0.5 - centre) / scale)
        pmf[:, 0] = 0
    # a point lead time: split between the two whole days around the mean
    low = np.clip(np.floor(mean).astype(int), 1, width - 1)
    high = np.clip(low + 1, 1, width - 1)
    frac = np.clip(mean - low, 0, 1)
    point_pmf = np.zeros_like(pmf)
    point_pmf[np.arange(mean.size), low] += 1 - frac
    point_pmf[np.arange(mean.size), high] += frac
    pmf = np.where(point[:, None], point_pmf, pmf)
    total = pmf.sum(axis=1, keepdims=True)
    return pmf / np.where(total > 0, total, 1)
