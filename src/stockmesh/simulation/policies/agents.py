"""The first ``agents`` policy: forecast-driven (s, S) from censored sales only.

It sees what a deployment sees: sales (a day that ended with an empty shelf is *censored*: its
sales are a lower bound of demand; a censored day that sold nothing had no stock all day and is
left out of the estimates, one that sold ``s`` units counts with E[D | D >= s], ``_uncensor``),
receipts (realised lead times per lane), the promotions calendar and supplier notices. No true
distribution, no future demand.

Per row, every day:

1. weekday index per site, from uncensored non-promotion days of the trailing window, shrunk towards
   1 by a few units (a site of slow movers sells a handful a week);
2. base level: exponentially weighted mean of deseasonalised non-promotion sales, and a
   per-site trend (ratio of the last 28 days to the 28 before), damped and capped. A slow mover
   (fewer than 8 days with a sale in the window) is rated on the longest history seen (up to 364
   days), shrunk towards its site's slow movers (empirical Bayes, Gamma-Poisson);
3. dispersion: the row's variance of deseasonalised sales, at least Poisson;
4. promotion uplift: pooled over all rows, from uncensored promotion days against the base
   forecast of those days;
5. lead time per lane: mean and spread of observed receipts, shrunk towards the quoted mean;
   an announced disruption multiplies it for orders placed now;
6. demand over the lead time: mixture over a discretised lead-time distribution of the day-by-day
   forecast (weekday, trend, promotions on the calendar), plus the level's estimation error;
7. s = its negative-binomial quantile at the lost-sales critical ratio p mu / (p mu + h Q), with
   Q = max(EOQ, mu); S = s + Q; a store row is left unstocked (s = -1, S = 0) when carrying that
   (s, S) costs more a day than the sales it would lose without stock (``_worth_stocking``).

A DC (a row that supplies other rows) plans on **echelon** stock and demand instead (Clark-Scarf
echelon base stock, made (s, S) like the stores): the orders it receives are a poor signal (an
under-filled store asks again the next day for what it did not get, so under rationing the same units
read as demand day after day), so it forecasts the end-customer demand of the stores below it, each
with the stores' own censoring-aware estimates above, and compares

- echelon inventory position = its own position + the positions of every row below it (their stock
  and what is in transit to them; an unfilled request is in nobody's position, so a store that asks
  again is counted once, by its low position),
- with echelon demand over its own lead time plus each store's transit (the time from the DC's order
  to the shelf), mixed over the DC's lead-time distribution, plus what the rows it supplies keep for
  themselves: half a batch each (stores order in batches; on average half of their order quantity
  sits in their position as cycle stock) and their safety stock. Clark-Scarf counts the stores'
  safety stock as the echelon's, which holds for a serial line; a DC with several stores cannot move
  one store's safety stock to another, so here it is kept on top (``store_safety_pooled=False``;
  pooling it cut the DC's stock by a third and lost sales in dc-shortage, see BENCHMARKS.md). The
  stores' reorder points follow the weekdays of their next few days, so this allowance is smoothed
  (half-life a week): unsmoothed, every DC x SKU tended to order on the same weekdays (bullwhip at
  the DCs 1.6 in the default scenario, against 0.4 smoothed).
- its lead time: the learned one, or longer when an order of its own is still open after that many
  days (an open order of age a has a lead time of at least a + 1; a censored observation of the
  lane, as an empty shelf is of demand), so an unannounced slowdown lengthens the lead time the DC
  plans with weeks before the first slow receipt would.

Its critical ratio follows from the echelon economics: a shortfall of echelon stock over that interval
is a lost sale at a store (the stores' own stock is already counted in the position), so the penalty is
the stores' (demand-weighted, priorities included), not a share of it; a unit too many stays at the DC
(the stores order by their own rule), so overage is the DC's holding cost.

``decide`` is a function of the observation and of the last good level per row (kept so that a
row censored for the whole window still has an estimate); a DC reuses the estimates its stores made
earlier the same day (the world asks echelon by echelon, from the stores up) and computes them itself
when they are missing. Provenance of every row is returned.

One piece: the estimation steps above and the (s, S) rule are one daily computation over the same
arrays, in the order listed, with one settings object and one memory of last levels between days;
the helpers below each serve one step of ``AgentsPolicy.decide`` and nothing else.
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

ORDER_MEMORY_DAYS = 128


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
    weekday_prior_units: float = 20.0  # shrinks each weekday's index towards 1 (``_weekday_index``)
    censored_passes: int = 3  # fixed-point passes estimating the demand of days that emptied the shelf
    intermittent_demand_days: int = 8  # fewer days with a sale in the window: a slow mover, rated on ...
    intermittent_window_days: int = 364  # ... this longer window (as much of it as has been seen)
    pool_slow_movers: bool = True  # shrink a slow mover's rate towards its site's slow movers (empirical Bayes)
    estimation_error: bool = True
    shelf_life_share: float = 0.25
    promotion_refresh_days: int = 7
    upstream_penalty_share: float = 0.05  # installation planning of a DC only (``echelon=False``)
    echelon: bool = True  # DCs plan on echelon stock and their stores' demand (module docstring)
    store_safety_pooled: bool = False  # True: count the stores' safety stock as the DC's (Clark-Scarf)
    allowance_half_life_days: float = 7.0  # smoothing of that allowance (0: none)
    overdue_lead_time: bool = True  # with echelon: a DC's open order older than its lead time lengthens it


class AgentsPolicy:
    """Forecast-driven (s, S) on censored sales, DCs on echelon stock; see the module docstring."""

    name = "agents"

    def __init__(self, settings: AgentsSettings | None = None) -> None:
        self.settings = settings or AgentsSettings()
        self._level_memory: np.ndarray | None = None
        self._variance_memory: np.ndarray | None = None
        self._uplift: tuple[int, np.ndarray] | None = None
        # today's estimates per row, for the DCs that decide after their stores
        self._estimate_day: np.ndarray | None = None
        self._estimates: dict[str, np.ndarray] = {}
        self._allowance: tuple[np.ndarray, np.ndarray] | None = None  # smoothed downstream allowance, its day
        self._placed: np.ndarray | None = None  # [day % ORDER_MEMORY_DAYS, row] units a DC ordered

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        plan = self._plan(observation, rows)
        position = observation.inventory_position[rows]
        formula = ("s = NB quantile of forecast lead-time demand at CR = p mu / (p mu + h Q); S = s + max(EOQ, mu); "
                   "not stocked (s = -1, S = 0) when p mu < K mu / (S - s) + h (s - lead-time demand + (S - s + 1) / 2)")
        inputs: dict[str, np.ndarray | float] = {
            "level": plan["level"], "daily_variance": plan["variance"], "valid_days": plan["valid_days"],
            "trend_per_day": plan["trend"], "promotion_uplift": plan["uplift"],
            "lead_time_mean": plan["lead_time_mean"], "lead_time_variance": plan["lead_time_variance"],
            "supplier_notice_factor": plan["notice"], "lead_time_demand_mean": plan["lead_demand_mean"],
            "lead_time_demand_variance": plan["lead_demand_variance"], "inventory_position": position}
        parameters: dict[str, np.ndarray | float] = {
            "critical_ratio": plan["ratio"], "eoq": plan["eoq"], "order_quantity_target": plan["quantity"],
            "stocked": plan["stocked"].astype(np.float64),
            "window_days": float(self.settings.window_days),
            "level_half_life_days": self.settings.level_half_life_days}
        reorder_point, order_up_to = plan["reorder_point"], plan["order_up_to"]
        planned = self._echelon_plan(observation, rows) if self.settings.echelon else None
        if planned is not None:
            at, echelon = planned
            position = position.astype(np.float64)
            reorder_point, order_up_to = reorder_point.copy(), order_up_to.copy()
            position[at] = echelon["echelon_inventory_position"]
            reorder_point[at] = echelon["reorder_point"]
            order_up_to[at] = echelon["order_up_to"]
            for key, target in (("lead_time_mean", inputs), ("echelon_inventory_position", inputs), ("echelon_lead_time_demand_mean", inputs),
                                ("echelon_lead_time_demand_variance", inputs), ("echelon_daily_demand", inputs),
                                ("echelon_lost_sale_penalty", inputs), ("downstream_allowance", inputs),
                                ("critical_ratio", parameters), ("eoq", parameters),
                                ("order_quantity_target", parameters)):
                column = np.array(target.get(key, np.full(rows.size, np.nan)), dtype=np.float64, copy=True)
                column = np.broadcast_to(column, rows.shape).copy()
                column[at] = echelon[key]
                target[key] = column
            formula += ("; a DC: echelon (s, S), s = NB quantile of its stores' demand over its lead time + their "
                        "transit at the stores' penalty + what the rows it supplies keep (half a batch, safety stock), "
                        "against the echelon "
                        "position (own + rows below + in transit)")
        decision = reorder_to_target(self.name, rows, position, reorder_point, order_up_to, formula,
                                     inputs=inputs, parameters=parameters)
        if planned is not None and self.settings.overdue_lead_time:
            self._record_orders(observation, rows[planned[0]], decision.order_quantity[planned[0]])
        return decision

    def _smoothed_allowance(self, observation: Observation, rows: np.ndarray, allowance: np.ndarray) -> np.ndarray:
        """Exponential smoothing of the downstream allowance per DC row, once a day."""
        n_all = observation.on_hand.shape[0]
        if self._allowance is None or self._allowance[0].size != n_all:
            self._allowance = (np.full(n_all, np.nan), np.full(n_all, -1, dtype=np.int64))
        value, day = self._allowance
        if (day[rows] == observation.day).all():
            return value[rows]
        weight = 1 - 0.5 ** (1 / self.settings.allowance_half_life_days)
        previous = value[rows]
        smoothed = np.where(np.isnan(previous), allowance, previous + weight * (allowance - previous))
        value[rows] = smoothed
        day[rows] = observation.day
        return smoothed

    def _record_orders(self, observation: Observation, rows: np.ndarray, quantity: np.ndarray) -> None:
        """Remember a DC's orders by day (in whole packs, as the world places them)."""
        if self._placed is None or self._placed.shape[1] != observation.on_hand.shape[0]:
            self._placed = np.zeros((ORDER_MEMORY_DAYS, observation.on_hand.shape[0]))
        pack = observation.pack_size[rows]
        self._placed[observation.day % ORDER_MEMORY_DAYS] = 0
        self._placed[observation.day % ORDER_MEMORY_DAYS, rows] = np.ceil(np.maximum(quantity, 0) / pack) * pack

    def _oldest_open_order_age(self, observation: Observation, rows: np.ndarray) -> np.ndarray:
        """Days since each row's oldest order still open (0: none, or not traceable).

        Receipts are not labelled with their order: the open ones are taken to be the latest whose
        units add up to what is on order. An order open for ``a`` days has a lead time of at least
        ``a + 1``: a censored observation of the lane, as an empty shelf is of demand. It tells an
        unannounced slowdown weeks before the first slow receipt does.
        """
        if self._placed is None or self._placed.shape[1] != observation.on_hand.shape[0]:
            return np.zeros(rows.size)
        ages = np.arange(1, ORDER_MEMORY_DAYS)
        placed = self._placed[(observation.day - ages) % ORDER_MEMORY_DAYS][:, rows]
        newest_first = np.cumsum(placed, axis=0)
        on_order = observation.on_order[rows]
        covered = newest_first >= on_order[None, :] - 0.5
        traced = covered.any(axis=0) & (on_order > 0)
        return np.where(traced, ages[np.argmax(covered, axis=0)], 0).astype(np.float64)

    def _plan(self, observation: Observation, rows: np.ndarray, *, share_uplift: bool = True) -> dict[str, np.ndarray]:
        """Installation (s, S) of ``rows`` from their own sales; remembered for today's DCs."""
        cfg = self.settings
        n_all = observation.on_hand.shape[0]
        if self._level_memory is None:
            self._level_memory = np.full(n_all, np.nan)
            self._variance_memory = np.full(n_all, np.nan)
        assert self._variance_memory is not None
        sales, censored, days = observation.history(cfg.window_days, rows)
        promo_past = observation.promotion_active[days][:, rows]
        weekday_past = observation.weekday[days]
        site = observation.row_site[rows]

        weekday_index = _weekday_index(sales, ~censored & ~promo_past, weekday_past, site, cfg.weekday_prior_units)
        index_past = _index_for(weekday_index, weekday_past, site)
        sales, valid = _uncensor(sales, censored, ~promo_past, index_past, cfg)
        deseasonalised = sales / index_past
        age = days[-1] - days
        weights = np.power(0.5, age / cfg.level_half_life_days)[:, None] * valid
        weight_sum = weights.sum(axis=0)
        n_valid = valid.sum(axis=0)
        level = np.where(weight_sum > 0, (weights * deseasonalised).sum(axis=0) / np.maximum(weight_sum, 1e-12), 0)
        variance = _sample_variance(deseasonalised, valid)
        # a slow mover sells on a few days of the window: its rate comes from the longest history
        # seen (a window of 56 days with no sale is not a rate of zero)
        slow = np.flatnonzero(((sales > 0) & valid).sum(axis=0) < cfg.intermittent_demand_days)
        if slow.size and cfg.intermittent_window_days > cfg.window_days:
            slow_level, slow_variance, slow_valid = self._long_rate(observation, rows[slow], weekday_index, site[slow])
            known = slow_valid >= cfg.min_valid_days
            slow = slow[known]
            level[slow], variance[slow], n_valid[slow] = slow_level[known], slow_variance[known], slow_valid[known]
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
        uplift = self._promotion_uplift(observation, rows, level, weekday_index, site, share=share_uplift)
        lead_time_mean, lead_time_variance, notice = _lead_time(observation, rows, cfg)

        # day-by-day forecast over the longest plausible lead time
        horizon = int(np.ceil((lead_time_mean + 4 * np.sqrt(lead_time_variance)).max(initial=1))) + 2
        row_weekday_index = weekday_index[:, site].T  # [rows, 7]
        cumulative_mean, cumulative_variance = _cumulative_forecast(
            observation, rows, horizon, level, variance, n_valid, trend, uplift, row_weekday_index, cfg)
        pmf = _discretised_lead_time(lead_time_mean, lead_time_variance, horizon + 1)
        lead_demand_mean, lead_demand_variance = mixture_moments(cumulative_mean, cumulative_variance, pmf)
        period = pmf @ np.arange(horizon + 1)
        mu = lead_demand_mean / np.maximum(period, 1)
        holding = observation.holding_cost_per_day[rows]
        eoq = economic_order_quantity(observation.order_cost[rows], mu, holding)
        quantity = _cycle_quantity(observation, rows, eoq, mu, cfg)
        # a DC short of stock delays its stores' replenishment, which their own safety stock mostly
        # covers: only a share of the sale is at risk upstream (installation planning of a DC only)
        penalty = observation.lost_sale_penalty[rows] * np.where(
            observation.row_echelon[rows] > 0, cfg.upstream_penalty_share, 1.0)
        ratio = lost_sales_critical_ratio(penalty, mu, holding, quantity)
        reorder_point = negative_binomial_quantile(lead_demand_mean, lead_demand_variance, ratio)
        order_up_to = reorder_point + np.ceil(quantity)
        stocked = _worth_stocking(observation, rows, mu, penalty, reorder_point, order_up_to, lead_demand_mean)
        reorder_point, order_up_to = np.where(stocked, reorder_point, -1.0), np.where(stocked, order_up_to, 0.0)
        plan = {"level": level, "variance": variance, "valid_days": n_valid.astype(float), "trend": trend,
                "uplift": uplift, "lead_time_mean": lead_time_mean, "lead_time_variance": lead_time_variance,
                "notice": notice, "lead_demand_mean": lead_demand_mean,
                "lead_demand_variance": lead_demand_variance, "ratio": ratio, "eoq": eoq,
                "quantity": np.where(stocked, quantity, 0.0), "reorder_point": reorder_point,
                "order_up_to": order_up_to, "stocked": stocked}
        self._remember(rows, observation=observation, weekday_index=row_weekday_index, **{
            key: plan[key] for key in ("level", "variance", "valid_days", "trend", "uplift", "lead_time_mean",
                                       "lead_time_variance", "quantity", "reorder_point",
                                       "lead_demand_mean")})
        return plan

    def _remember(self, rows: np.ndarray, *, observation: Observation | None = None, **columns: np.ndarray) -> None:
        """Keep today's estimates of ``rows`` (``observation`` given: a fresh plan of those rows)."""
        if observation is not None:
            n_all = observation.on_hand.shape[0]
            if self._estimate_day is None or self._estimate_day.size != n_all:
                self._estimate_day = np.full(n_all, -1, dtype=np.int64)
                self._estimates = {}
            self._estimate_day[rows] = observation.day
        for key, values in columns.items():
            store = self._estimates.get(key)
            if store is None:
                assert self._estimate_day is not None
                shape = (self._estimate_day.size, *np.shape(values)[1:])
                store = self._estimates[key] = np.full(shape, np.nan)
            store[rows] = values

    def _estimates_for(self, observation: Observation, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Today's estimates of ``rows``, planning those not yet planned today."""
        if self._estimate_day is None or self._estimate_day.size != observation.on_hand.shape[0]:
            missing = rows
        else:
            missing = rows[self._estimate_day[rows] != observation.day]
        # lowest echelon first, so a DC below another one finds its own stores planned
        for echelon in np.unique(observation.row_echelon[missing]):
            chosen = missing[observation.row_echelon[missing] == echelon]
            self._plan(observation, chosen, share_uplift=False)
            if echelon > 0 and self.settings.echelon:
                self._echelon_plan(observation, chosen)
        return {key: values[rows] for key, values in self._estimates.items()}

    def _echelon_plan(self, observation: Observation, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """Echelon (s, S) of the DC rows among ``rows`` that supply stores: (their positions in ``rows``, plan)."""
        cfg = self.settings
        parent = observation.row_parent
        n_all = parent.size
        slot = np.full(n_all, -1, dtype=np.int64)
        candidates = np.flatnonzero(observation.row_echelon[rows] > 0)
        slot[rows[candidates]] = np.arange(candidates.size)
        if candidates.size == 0:
            return None
        # every (row, DC among ``rows`` above it) pair, first the network alone
        below_any = np.flatnonzero(parent >= 0)
        pair_row: list[np.ndarray] = []
        row, ancestor = below_any, parent[below_any]
        while row.size:
            pair_row.append(row[slot[ancestor] >= 0])
            up = parent[ancestor] >= 0
            row, ancestor = row[up], parent[ancestor[up]]
        below = np.unique(np.concatenate([*pair_row, rows[candidates]]))
        if below.size == candidates.size:
            return None  # no DC here supplies anything
        known = self._estimates_for(observation, below)
        lead_of = np.zeros(n_all)
        lead_of[below] = known["lead_time_mean"]
        lead_variance_of = np.zeros(n_all)
        lead_variance_of[below] = known["lead_time_variance"]
        # then with the transit from the DC's stock to the row's shelf (the lead times of the path)
        pair_row, pair_dc, pair_transit, pair_transit_variance = [], [], [], []
        row, ancestor = below_any, parent[below_any]
        transit, transit_variance = lead_of[row], lead_variance_of[row]
        while row.size:
            mine = slot[ancestor] >= 0
            pair_row.append(row[mine])
            pair_dc.append(slot[ancestor[mine]])
            pair_transit.append(transit[mine])
            pair_transit_variance.append(transit_variance[mine])
            up = parent[ancestor] >= 0  # one more hop: the ancestor's own lead time from its supplier DC
            transit = transit[up] + lead_of[ancestor[up]]
            transit_variance = transit_variance[up] + lead_variance_of[ancestor[up]]
            row, ancestor = row[up], parent[ancestor[up]]
        rows_below = np.concatenate(pair_row)
        dc_of = np.concatenate(pair_dc)
        dc_rows = rows[candidates]
        n_dc = dc_rows.size
        position = observation.inventory_position.astype(np.float64)
        echelon_position = position[dc_rows] + np.bincount(dc_of, weights=position[rows_below], minlength=n_dc)
        # what the rows a DC supplies keep for themselves: half a batch of cycle stock, and their
        # safety stock (their reorder point over their lead-time demand), which the DC cannot hand out
        direct = parent[rows_below] == dc_rows[dc_of]
        at_direct = np.searchsorted(below, rows_below[direct])
        allowance = 0.5 * known["quantity"][at_direct]
        if not cfg.store_safety_pooled:
            allowance = allowance + np.maximum(known["reorder_point"][at_direct] - known["lead_demand_mean"][at_direct], 0)
        batch_allowance = np.bincount(dc_of[direct], weights=allowance, minlength=n_dc)
        if cfg.allowance_half_life_days > 0:
            # the stores' reorder points follow the weekdays of their next few days; the DC's need not:
            # smoothed, the allowance does not make every DC x SKU order on the same weekday
            batch_allowance = self._smoothed_allowance(observation, dc_rows, batch_allowance)
        leaf = observation.row_echelon[rows_below] == 0
        stores, store_dc = rows_below[leaf], dc_of[leaf]
        store_transit = np.concatenate(pair_transit)[leaf]
        store_transit_variance = np.concatenate(pair_transit_variance)[leaf]
        has_stores = np.bincount(store_dc, minlength=n_dc) > 0
        if not has_stores.any():
            return None

        # the stores' demand, day by day, over the DC's lead time and their transit
        lead_time_variance = lead_variance_of[dc_rows]
        overdue = self._oldest_open_order_age(observation, dc_rows) + 1.0 if cfg.overdue_lead_time else 0.0
        lead_time_mean = np.maximum(lead_of[dc_rows], overdue)
        width = int(np.ceil((lead_time_mean + 4 * np.sqrt(lead_time_variance)).max(initial=1))) + 2
        longest = int(np.ceil((store_transit + 4 * np.sqrt(store_transit_variance)).max(initial=0)))
        horizon = width + longest + 2
        at_store = np.searchsorted(below, stores)
        level = known["level"][at_store]
        cumulative_mean, cumulative_variance = _cumulative_forecast(
            observation, stores, horizon, level, known["variance"][at_store], known["valid_days"][at_store],
            known["trend"][at_store], known["uplift"][at_store], known["weekday_index"][at_store], cfg)
        # demand of each store over l + its transit days, l = the DC's lead time 0..width
        reach = np.arange(width + 1)[:, None] + store_transit[None, :]
        low = np.minimum(np.floor(reach).astype(np.int64), horizon - 1)
        frac = reach - low
        columns = np.arange(stores.size)[None, :]

        def at_reach(cumulative: np.ndarray) -> np.ndarray:
            return (1 - frac) * cumulative[low, columns] + frac * cumulative[low + 1, columns]

        store_mean = at_reach(cumulative_mean)
        # a random transit adds (daily demand)^2 x its variance
        store_variance = at_reach(cumulative_variance) + (level**2 * store_transit_variance)[None, :]
        cells = (np.arange(width + 1)[:, None] * n_dc + store_dc[None, :]).ravel()
        echelon_mean = np.bincount(cells, weights=store_mean.ravel(), minlength=(width + 1) * n_dc).reshape(width + 1, n_dc)
        echelon_variance = np.bincount(cells, weights=store_variance.ravel(),
                                       minlength=(width + 1) * n_dc).reshape(width + 1, n_dc)
        pmf = _discretised_lead_time(lead_time_mean, lead_time_variance, width + 1)
        demand_mean, demand_variance = mixture_moments(echelon_mean, echelon_variance, pmf)

        daily = cumulative_mean[horizon] / horizon
        echelon_daily = np.bincount(store_dc, weights=daily, minlength=n_dc)
        store_penalty = observation.lost_sale_penalty[stores]
        penalty = np.where(echelon_daily > 0,
                           np.bincount(store_dc, weights=store_penalty * daily, minlength=n_dc)
                           / np.maximum(echelon_daily, 1e-12),
                           observation.lost_sale_penalty[dc_rows])
        holding = observation.holding_cost_per_day[dc_rows]
        eoq = economic_order_quantity(observation.order_cost[dc_rows], echelon_daily, holding)
        quantity = _cycle_quantity(observation, dc_rows, eoq, echelon_daily, cfg)
        ratio = lost_sales_critical_ratio(penalty, echelon_daily, holding, quantity)
        reorder_point = negative_binomial_quantile(demand_mean, demand_variance, ratio) + batch_allowance
        chosen = np.flatnonzero(has_stores)
        self._remember(dc_rows[chosen], quantity=quantity[chosen], reorder_point=reorder_point[chosen],
                       lead_time_mean=lead_time_mean[chosen], lead_demand_mean=demand_mean[chosen])
        plan = {"lead_time_mean": lead_time_mean, "echelon_inventory_position": echelon_position, "echelon_lead_time_demand_mean": demand_mean,
                "echelon_lead_time_demand_variance": demand_variance, "echelon_daily_demand": echelon_daily,
                "echelon_lost_sale_penalty": penalty, "downstream_allowance": batch_allowance,
                "critical_ratio": ratio, "eoq": eoq, "order_quantity_target": quantity,
                "reorder_point": reorder_point, "order_up_to": reorder_point + np.ceil(quantity)}
        return candidates[chosen], {key: values[chosen] for key, values in plan.items()}

    def _long_rate(self, observation: Observation, rows: np.ndarray, weekday_index: np.ndarray,
                   site: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rate, variance and informative days of deseasonalised demand over the long window (slow movers).

        Each row's rate is shrunk towards its site's slow movers (empirical Bayes, Gamma-Poisson: a
        Gamma prior fitted to their rates by moments, posterior mean (units + alpha) / (days + beta)):
        no sale in a year is weak evidence of a rate of zero when the site's other slow movers sell a
        unit every few months, and one lucky sale in a year says little more.
        """
        cfg = self.settings
        sales, censored, days = observation.history(cfg.intermittent_window_days, rows)
        promo_past = observation.promotion_active[days][:, rows]
        index_past = _index_for(weekday_index, observation.weekday[days], site)
        sales, valid = _uncensor(sales, censored, ~promo_past, index_past, cfg)
        deseasonalised = sales / index_past
        n_valid = valid.sum(axis=0)
        units = (deseasonalised * valid).sum(axis=0)
        rate = units / np.maximum(n_valid, 1)
        if cfg.pool_slow_movers:
            rate = _gamma_poisson_posterior(units, n_valid, site, n_valid >= cfg.min_valid_days)
        return rate, np.maximum(_sample_variance(deseasonalised, valid), rate), n_valid

    def _promotion_uplift(self, observation: Observation, rows: np.ndarray, level: np.ndarray,
                          weekday_index: np.ndarray, site: np.ndarray, *, share: bool = True) -> np.ndarray:
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
        if share and observation.row_echelon[rows].max() == 0:
            # pooled over the stores; refreshed weekly (DC rows never carry promotions)
            self._uplift = (observation.day, np.array(uplift))
        return np.full(rows.size, uplift)


def _sample_variance(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per column variance of the valid values (their mean when fewer than two)."""
    n_valid = valid.sum(axis=0)
    mean = np.where(n_valid > 0, (values * valid).sum(axis=0) / np.maximum(n_valid, 1), 0)
    return np.where(n_valid > 1, ((values - mean) ** 2 * valid).sum(axis=0) / np.maximum(n_valid - 1, 1), mean)


def _gamma_poisson_posterior(units: np.ndarray, exposure: np.ndarray, site: np.ndarray,
                             fitted: np.ndarray) -> np.ndarray:
    """Posterior mean rate of each row, its site's ``fitted`` rows giving the Gamma prior (moments).

    Prior mean m = their units / their days; prior variance v = the spread of their rates less the
    Poisson noise of each (m / days); alpha = m^2 / v, beta = m / v. No spread beyond Poisson: every
    row gets m.
    """
    n_sites = int(site.max(initial=0)) + 1
    count = np.bincount(site, weights=fitted, minlength=n_sites)
    mean = (np.bincount(site, weights=units * fitted, minlength=n_sites)
            / np.maximum(np.bincount(site, weights=exposure * fitted, minlength=n_sites), 1e-12))
    rate = units / np.maximum(exposure, 1)
    spread = np.bincount(site, weights=(rate - mean[site]) ** 2 * fitted, minlength=n_sites) / np.maximum(count, 1)
    noise = np.bincount(site, weights=fitted / np.maximum(exposure, 1), minlength=n_sites) / np.maximum(count, 1)
    variance = spread - mean * noise
    beta = np.where((variance > 0) & (count > 1), mean / np.maximum(variance, 1e-300), 1e12)
    beta = np.where(mean > 0, beta, 0.0)  # nothing sold at the site: no prior
    return (units + mean[site] * beta[site]) / np.maximum(exposure + beta[site], 1e-12)


def _uncensor(sales: np.ndarray, censored: np.ndarray, counted: np.ndarray, index: np.ndarray,
              cfg: AgentsSettings) -> tuple[np.ndarray, np.ndarray]:
    """Sales with the demand of each censored day that sold something estimated; which days tell demand.

    A day that ended with an empty shelf after selling ``s > 0`` units had a demand of at least ``s``:
    leaving it out drops exactly the days that emptied the shelf (for a slow mover holding one or two
    units, every sale), so the estimate sinks and the policy stops ordering. Such a day counts with
    E[D | D >= s], D Poisson with the row's mean of the other days times the day's weekday index
    (a few fixed-point passes; ``s`` itself when there is nothing else to go by). A censored day
    that sold nothing had no stock all day and tells nothing: it stays out. Only ``counted`` days
    (not promotions) count at all.
    """
    from scipy.special import gammainc

    hit = censored & (sales > 0) & counted
    valid = (~censored | hit) & counted
    if not hit.any():
        return sales, valid
    floor = sales[hit]
    exact = ~censored & counted
    n_exact = exact.sum(axis=0)
    # first guess: the mean of the exact days, or each censored day's sales when there are none
    rate = (sales / index * exact).sum(axis=0) / np.maximum(n_exact, 1)
    estimate = sales.astype(np.float64, copy=True)
    for _ in range(cfg.censored_passes):
        mean = np.maximum((rate[None, :] * index)[hit], 1e-12)
        # E[D 1(D >= s)] = m P(D >= s - 1), P(D >= k) = gammainc(k, m) for k >= 1, 1 for k = 0
        above = gammainc(floor, mean)
        above_one_less = np.where(floor > 1, gammainc(np.maximum(floor - 1, 1), mean), 1.0)
        tail_mean = np.where(above > 1e-300, mean * above_one_less / np.maximum(above, 1e-300), floor)
        estimate[hit] = np.maximum(tail_mean, floor)
        rate = (estimate / index * valid).sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    return estimate, valid


def _lead_time(observation: Observation, rows: np.ndarray,
               cfg: AgentsSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and variance of the lead time of an order placed today, and the announced factor."""
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
    return lead_time_mean * notice, lead_time_variance * notice**2, notice


def _cumulative_forecast(observation: Observation, rows: np.ndarray, horizon: int, level: np.ndarray,
                         variance: np.ndarray, n_valid: np.ndarray, trend: np.ndarray, uplift: np.ndarray,
                         row_weekday_index: np.ndarray, cfg: AgentsSettings) -> tuple[np.ndarray, np.ndarray]:
    """[horizon + 1, rows] mean and variance of demand over the next 0..horizon days.

    Day by day: level x weekday index x damped trend x promotion uplift on the calendar, negative
    binomial around it; the level's own estimation error is common to every day of the period.
    """
    future = np.arange(observation.day + 1, observation.day + 1 + horizon)
    in_run = np.minimum(future, observation.promotion_active.shape[0] - 1)
    weekday_future = observation.weekday[in_run]
    promo_future = observation.promotion_active[in_run][:, rows] & (future < observation.promotion_active.shape[0])[:, None]
    steps = (np.arange(1, horizon + 1) + cfg.level_half_life_days)[:, None]
    growth = np.power(1 + trend, steps)
    weekday = row_weekday_index[np.arange(rows.size)[None, :], weekday_future[:, None]]
    daily_mean = level * weekday * growth * np.where(promo_future, uplift, 1.0)
    # negative-binomial shape from the row's moments: variance = mean + mean^2 / shape
    extra_variance_ratio = np.maximum(variance - level, 0) / np.maximum(level, 1e-9) ** 2
    daily_variance = daily_mean + daily_mean**2 * extra_variance_ratio
    zero = np.zeros((1, rows.size))
    cumulative_mean = np.vstack([zero, np.cumsum(daily_mean, axis=0)])
    cumulative_variance = np.vstack([zero, np.cumsum(daily_variance, axis=0)])
    if cfg.estimation_error:
        level_error = variance / np.maximum(n_valid, 1) * (cumulative_mean / np.maximum(level, 1e-9)) ** 2
        cumulative_variance = cumulative_variance + level_error
    return cumulative_mean, cumulative_variance


def _worth_stocking(observation: Observation, rows: np.ndarray, daily: np.ndarray, penalty: np.ndarray,
                    reorder_point: np.ndarray, order_up_to: np.ndarray, lead_demand_mean: np.ndarray) -> np.ndarray:
    """Whether a store row's (s, S) costs less a day than the sales it would lose without stock.

    Carrying (s, S): K D / (S - s) to order, h (s - lead-time demand + (S - s + 1) / 2) to hold, against
    p D lost without stock. A slow mover with a low penalty is cheaper left unstocked (its lost sales
    cost less than a batch sitting on the shelf for a year and the order that brought it); a smooth
    one never is. A DC row is always stocked: its shortages are its stores' (the echelon plan).
    """
    batch = np.maximum(order_up_to - reorder_point, 1)
    holding = observation.holding_cost_per_day[rows]
    carrying = (observation.order_cost[rows] * daily / batch
                + holding * (np.maximum(reorder_point - lead_demand_mean, 0) + (batch + 1) / 2))
    return (penalty * daily > carrying) | (observation.row_echelon[rows] > 0)


def _cycle_quantity(observation: Observation, rows: np.ndarray, eoq: np.ndarray, daily: np.ndarray,
                    cfg: AgentsSettings) -> np.ndarray:
    """Q = max(EOQ, a day's demand); a perishable order must sell before it expires: a share of the shelf life."""
    quantity = np.maximum(eoq, daily)
    shelf_life = observation.shelf_life_days[rows]
    return np.where(shelf_life > 0, np.minimum(quantity, np.maximum(daily, daily * shelf_life * cfg.shelf_life_share)),
                    quantity)


def _weekday_index(sales: np.ndarray, valid: np.ndarray, weekday: np.ndarray, site: np.ndarray,
                   prior_units: float = 0.0) -> np.ndarray:
    """[7, n_sites_max] multiplicative weekday index per site, mean 1 over the week.

    Each weekday's index is shrunk towards 1 by ``prior_units`` units sold at the site's average
    rate: a site of slow movers sells a handful of units a week, and an index of 0.05 for a weekday
    that happened to sell nothing would read its next sale as twenty.
    """
    n_sites = int(site.max(initial=0)) + 1
    one_hot_day = np.eye(7)[weekday]  # [days, 7]
    site_matrix = np.zeros((site.size, n_sites))
    site_matrix[np.arange(site.size), site] = 1
    sold = one_hot_day.T @ (sales * valid) @ site_matrix  # [7, sites]
    count = one_hot_day.T @ valid.astype(np.float64) @ site_matrix
    seen = count > 0
    rate = np.where(seen, sold / np.maximum(count, 1), 0.0)
    overall = rate.sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
    expected = count * overall  # units each weekday would have sold at the average rate
    shrunk = (sold + prior_units) / np.maximum(expected + prior_units, 1e-12)
    index = np.where(seen & (overall > 0), shrunk, 1.0)
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
