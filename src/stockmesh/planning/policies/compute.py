"""``compute_policies``: safety stock, reorder point, order-up-to level and order quantity per row.

One row per SKU x site; every input is a numpy array of length N (scalars broadcast). Each row picks a
demand model (normal, Poisson, negative binomial, empirical quantiles), a service target (cycle
service level or fill rate) and a policy kind (order-up-to, (s,S), (r,Q) with EOQ, min/max). The
result keeps, per row, the method used and the inputs, so ``PolicyResult.explain(row)`` can say how
each number was obtained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from scipy import special

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.policies import safety_stock as formulas  # the safety-stock formulas
from stockmesh.planning.policies.ordering import OrderConstraints, OrderFlag, round_order_quantity


class DemandModel(IntEnum):
    """How demand over the protection interval is modelled."""

    NORMAL = 0
    POISSON = 1
    NEGATIVE_BINOMIAL = 2
    EMPIRICAL = 3


class ServiceTarget(IntEnum):
    """What ``service_level`` means for a row."""

    CYCLE_SERVICE = 0  # P(no stock-out in a replenishment cycle) >= level
    FILL_RATE = 1  # share of demand met from stock >= level


class PolicyKind(IntEnum):
    """The replenishment rule that turns the protection level into an order."""

    ORDER_UP_TO = 0  # base stock: order up to S = protection level (periodic review R, or continuous)
    S_S = 1  # (s,S): s = protection level, S = s + EOQ
    R_Q = 2  # (r,Q): r = protection level, Q = EOQ (at least 1), order whole multiples of Q
    MIN_MAX = 3  # min = protection level, max = min + max(EOQ, review-period demand)


# Safety-stock methods, indexed by PolicyResult.method: (name, formula).
METHODS: tuple[tuple[str, str], ...] = (
    (
        "normal, cycle service",
        "SS = z*sigma_T, z = Phi^-1(alpha); sigma_T = sqrt(T*sd_d^2 + mu_d^2*sd_L^2), T = L+R",
    ),
    (
        "normal, fill rate",
        "SS = z*sigma_T with sigma_T*Lnorm(z) = (1-beta)*Q_cycle; sigma_T = sqrt(T*sd_d^2 + mu_d^2*sd_L^2)",
    ),
    ("Poisson, cycle service", "ROP = min{k : P(D <= k) >= alpha}, D ~ Poisson(mu_d*T); SS = ROP - mu_d*T"),
    (
        "Poisson, fill rate",
        "ROP = min{k : E[(D-k)+] <= (1-beta)*Q_cycle}, D ~ Poisson(mu_d*T); SS = ROP - mu_d*T",
    ),
    (
        "negative binomial, cycle service",
        "ROP = min{k : P(D <= k) >= alpha}, D ~ NegBin(mean mu_d*T, var sigma_T^2); SS = ROP - mu_d*T",
    ),
    (
        "negative binomial, fill rate",
        "ROP = min{k : E[(D-k)+] <= (1-beta)*Q_cycle}, D ~ NegBin(mean mu_d*T, var sigma_T^2); SS = ROP - mu_d*T",
    ),
    (
        "empirical quantiles, cycle service",
        "ROP = q_T(alpha), linear between the given quantiles; SS = ROP - mean",
    ),
    (
        "empirical quantiles, fill rate",
        "ROP with integral of (q_T(u) - ROP)+ du = (1-beta)*Q_cycle; SS = ROP - mean",
    ),
    ("deterministic", "sigma_T = 0: SS = 0, ROP = mu_d*T"),
)

POLICY_FORMULAS: dict[PolicyKind, str] = {
    PolicyKind.ORDER_UP_TO: "order = max(0, S - IP), S = ROP (covers L+R)",
    PolicyKind.S_S: "if IP <= s: order = S - IP; s = ROP, S = s + EOQ, EOQ = sqrt(2*K*mu_d/h)",
    PolicyKind.R_Q: "if IP <= r: order = n*Q, n = floor((r - IP)/Q) + 1; r = ROP, Q = max(1, EOQ)",
    PolicyKind.MIN_MAX: "if IP <= min: order = max - IP; min = ROP, max = min + max(EOQ, mu_d*R)",
}


@dataclass(frozen=True)
class PolicyInputs:
    """Columns of a positions table, one entry per SKU x site row (scalars broadcast).

    Demand is per period; lead time and review period are in periods; costs are per order (fixed) and
    per unit per period (holding). ``empirical_quantiles`` holds quantiles of demand over L + R at
    ``empirical_levels``, either one row per input row or one row per EMPIRICAL row, in order.
    """

    demand_mean: np.ndarray
    demand_sd: np.ndarray | float
    lead_time_mean: np.ndarray | float
    service_level: np.ndarray | float
    inventory_position: np.ndarray | float = 0.0
    lead_time_sd: np.ndarray | float = 0.0
    review_period: np.ndarray | float = 0.0
    service_target: np.ndarray | int = ServiceTarget.CYCLE_SERVICE
    demand_model: np.ndarray | int = DemandModel.NORMAL
    policy: np.ndarray | int = PolicyKind.ORDER_UP_TO
    fixed_order_cost: np.ndarray | float = 0.0
    holding_cost: np.ndarray | float = 1.0
    constraints: OrderConstraints = field(default_factory=OrderConstraints)
    empirical_levels: np.ndarray | None = None
    empirical_quantiles: np.ndarray | None = None


@dataclass(frozen=True)
class PolicyResult:
    """Per-row results; ``explain(row)`` gives the provenance of one row."""

    inputs: PolicyInputs
    method: np.ndarray  # index into METHODS
    protection_demand_mean: np.ndarray
    protection_demand_sd: np.ndarray
    safety_stock: np.ndarray
    reorder_point: np.ndarray
    order_up_to_level: np.ndarray
    lot_size: np.ndarray
    order_quantity_unrounded: np.ndarray
    order_quantity: np.ndarray
    order_flags: np.ndarray

    def __len__(self) -> int:
        return int(self.reorder_point.shape[0])

    def explain(self, row: int) -> dict[str, Any]:
        """How row ``row``'s numbers were obtained: method, formulas, parameters and results."""
        inputs = self.inputs
        size = len(self)

        def at(value: Any) -> Any:
            array = np.broadcast_to(np.asarray(value), (size,))
            item = array[row].item()
            # JSON has no infinity: an absent cap is reported as None.
            return None if isinstance(item, float) and not np.isfinite(item) else item

        method_name, formula = METHODS[int(self.method[row])]
        kind = PolicyKind(at(inputs.policy))
        constraints = inputs.constraints
        flags = OrderFlag(int(self.order_flags[row]))
        return {
            "row": row,
            "method": method_name,
            "formula": formula,
            "policy": kind.name.lower(),
            "policy_formula": POLICY_FORMULAS[kind],
            "parameters": {
                "demand_mean": at(inputs.demand_mean),
                "demand_sd": at(inputs.demand_sd),
                "lead_time_mean": at(inputs.lead_time_mean),
                "lead_time_sd": at(inputs.lead_time_sd),
                "review_period": at(inputs.review_period),
                "service_target": ServiceTarget(at(inputs.service_target)).name.lower(),
                "service_level": at(inputs.service_level),
                "demand_model": DemandModel(at(inputs.demand_model)).name.lower(),
                "fixed_order_cost": at(inputs.fixed_order_cost),
                "holding_cost": at(inputs.holding_cost),
                "inventory_position": at(inputs.inventory_position),
                "pack_size": at(constraints.pack_size),
                "order_multiple": at(constraints.order_multiple),
                "minimum_order_quantity": at(constraints.minimum_order_quantity),
                "maximum_order_quantity": at(constraints.maximum_order_quantity),
                "supplier_capacity": at(constraints.supplier_capacity),
            },
            "results": {
                "protection_demand_mean": float(self.protection_demand_mean[row]),
                "protection_demand_sd": float(self.protection_demand_sd[row]),
                "safety_stock": float(self.safety_stock[row]),
                "reorder_point": float(self.reorder_point[row]),
                "order_up_to_level": float(self.order_up_to_level[row]),
                "lot_size": float(self.lot_size[row]),
                "order_quantity_unrounded": float(self.order_quantity_unrounded[row]),
                "order_quantity": float(self.order_quantity[row]),
                "order_adjustments": [flag.name.lower() for flag in OrderFlag if flag and flag in flags],
            },
        }


def _column(value: Any, name: str, size: int, *, minimum: float | None = 0.0) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value, dtype=float), (size,))
    bad = (
        np.isnan(array) | np.isneginf(array) | np.isposinf(array) if minimum is not None else np.isnan(array)
    )
    if minimum is not None:
        bad |= array < minimum
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        rule = f"a finite number >= {minimum:g}" if minimum is not None else "a number"
        raise InvalidInput(f"row {row}: must be {rule}, got {array[row]!r}", field=name)
    return array


def _codes(value: Any, enum: type[IntEnum], name: str, size: int) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value), (size,)).astype(np.int64)
    allowed = np.array([member.value for member in enum])
    bad = ~np.isin(array, allowed)
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"row {row}: unknown code {array[row]}, expected one of {allowed.tolist()}", field=name
        )
    return array


def compute_policies(inputs: PolicyInputs) -> PolicyResult:
    """Vectorised policy computation for every row; raises InvalidInput naming the field and row."""
    demand_mean = np.asarray(inputs.demand_mean, dtype=float)
    if demand_mean.ndim != 1:
        raise InvalidInput("must be a one-dimensional array, one entry per row", field="demand_mean")
    size = demand_mean.shape[0]
    demand_mean = _column(demand_mean, "demand_mean", size)
    demand_sd = _column(inputs.demand_sd, "demand_sd", size)
    lead_time_mean = _column(inputs.lead_time_mean, "lead_time_mean", size)
    lead_time_sd = _column(inputs.lead_time_sd, "lead_time_sd", size)
    review_period = _column(inputs.review_period, "review_period", size)
    service_level = _column(inputs.service_level, "service_level", size)
    outside = (service_level <= 0.0) | (service_level >= 1.0)
    if np.any(outside):
        row = int(np.flatnonzero(outside)[0])
        raise InvalidInput(
            f"row {row}: must lie strictly between 0 and 1, got {service_level[row]!r}", field="service_level"
        )
    fixed_order_cost = _column(inputs.fixed_order_cost, "fixed_order_cost", size)
    holding_cost = _column(inputs.holding_cost, "holding_cost", size)
    inventory_position = _column(inputs.inventory_position, "inventory_position", size, minimum=None)
    target = _codes(inputs.service_target, ServiceTarget, "service_target", size)
    model = _codes(inputs.demand_model, DemandModel, "demand_model", size)
    kind = _codes(inputs.policy, PolicyKind, "policy", size)

    mean, sd = formulas.protection_demand_moments(
        demand_mean, demand_sd, lead_time_mean, lead_time_sd, review_period
    )
    lot = formulas.economic_order_quantity(demand_mean, fixed_order_cost, holding_cost)
    review_demand = demand_mean * review_period
    # Units ordered per replenishment cycle, the base of a fill-rate target.
    cycle_quantity = np.maximum(
        np.where(kind == PolicyKind.ORDER_UP_TO, review_demand, np.maximum(lot, review_demand)), demand_mean
    )
    fill = target == ServiceTarget.FILL_RATE
    allowed_shortage = (1.0 - service_level) * cycle_quantity

    protection_level = np.empty(size)
    method = np.empty(size, dtype=np.int8)
    empirical_mean = None

    normal = model == DemandModel.NORMAL
    # Poisson rows with lead-time variability are over-dispersed: they become negative binomial.
    discrete = (model == DemandModel.POISSON) | (model == DemandModel.NEGATIVE_BINOMIAL)
    negbin = (
        discrete
        & (sd**2 > mean * (1.0 + 1e-9))
        & ((model == DemandModel.NEGATIVE_BINOMIAL) | (lead_time_sd > 0))
    )
    poisson = discrete & ~negbin
    deterministic = (normal & (sd == 0.0)) | (discrete & (mean == 0.0))
    normal &= ~deterministic
    poisson &= ~deterministic
    negbin &= ~deterministic
    protection_level[deterministic] = mean[deterministic]
    method[deterministic] = 8

    _normal_rows(normal, fill, service_level, allowed_shortage, mean, sd, protection_level, method)
    _poisson_rows(poisson, fill, service_level, allowed_shortage, mean, protection_level, method)
    _negbin_rows(negbin, fill, service_level, allowed_shortage, mean, sd, protection_level, method)
    empirical = model == DemandModel.EMPIRICAL
    if np.any(empirical):
        empirical_mean = _empirical_rows(
            inputs, empirical, fill, service_level, allowed_shortage, protection_level, method
        )
        # Mean of the protection demand for empirical rows: the input mean when given, else the quantiles'.
        mean = np.where(empirical & (demand_mean > 0), mean, np.where(empirical, empirical_mean, mean))

    safety_stock = protection_level - mean
    reorder_point = protection_level
    lot_size = np.where(kind == PolicyKind.R_Q, np.maximum(lot, 1.0), lot)
    order_up_to = np.select(
        [kind == PolicyKind.S_S, kind == PolicyKind.R_Q, kind == PolicyKind.MIN_MAX],
        [
            reorder_point + lot_size,
            reorder_point + lot_size,
            reorder_point + np.maximum(lot_size, review_demand),
        ],
        default=reorder_point,
    )
    triggered = inventory_position <= reorder_point
    batches = (
        np.floor((reorder_point - inventory_position) / lot_size) + 1.0
        if np.any(kind == PolicyKind.R_Q)
        else 0.0
    )
    need = np.select(
        [kind == PolicyKind.ORDER_UP_TO, kind == PolicyKind.R_Q],
        [order_up_to - inventory_position, np.where(triggered, batches * lot_size, 0.0)],
        default=np.where(triggered, order_up_to - inventory_position, 0.0),
    )
    unrounded = np.maximum(need, 0.0)
    quantity, flags = round_order_quantity(unrounded, inputs.constraints)
    return PolicyResult(
        inputs=inputs,
        method=method,
        protection_demand_mean=mean,
        protection_demand_sd=sd,
        safety_stock=safety_stock,
        reorder_point=reorder_point,
        order_up_to_level=order_up_to,
        lot_size=lot_size,
        order_quantity_unrounded=unrounded,
        order_quantity=quantity,
        order_flags=flags,
    )


def _normal_rows(rows, fill, service_level, allowed_shortage, mean, sd, protection_level, method) -> None:  # noqa: ANN001
    cycle_rows = np.flatnonzero(rows & ~fill)
    if cycle_rows.size:
        z = special.ndtri(service_level[cycle_rows])
        protection_level[cycle_rows] = mean[cycle_rows] + z * sd[cycle_rows]
        method[cycle_rows] = 0
    fill_rows = np.flatnonzero(rows & fill)
    if fill_rows.size:
        z = formulas.normal_fill_rate_safety_factor(allowed_shortage[fill_rows] / sd[fill_rows])
        protection_level[fill_rows] = mean[fill_rows] + z * sd[fill_rows]
        method[fill_rows] = 1


def _poisson_rows(rows, fill, service_level, allowed_shortage, mean, protection_level, method) -> None:  # noqa: ANN001
    cycle_rows = np.flatnonzero(rows & ~fill)
    if cycle_rows.size:
        mu, alpha = mean[cycle_rows], service_level[cycle_rows]
        z = special.ndtri(alpha)
        guess = formulas.discrete_guess(mu, np.sqrt(mu), 1.0 / np.sqrt(mu), z)
        protection_level[cycle_rows] = formulas.smallest_integer_where(
            lambda k, i: formulas.poisson_cdf(k, mu[i]) >= alpha[i], guess
        )
        method[cycle_rows] = 2
    fill_rows = np.flatnonzero(rows & fill)
    if fill_rows.size:
        mu, allowed = mean[fill_rows], allowed_shortage[fill_rows]
        z = formulas.normal_fill_rate_safety_factor(np.maximum(allowed / np.sqrt(mu), 1e-300))
        guess = np.ceil(mu + z * np.sqrt(mu))
        protection_level[fill_rows] = formulas.smallest_integer_where(
            lambda k, i: formulas.poisson_shortage(k, mu[i]) <= allowed[i], guess
        )
        method[fill_rows] = 3


def _negbin_rows(rows, fill, service_level, allowed_shortage, mean, sd, protection_level, method) -> None:  # noqa: ANN001
    indices = np.flatnonzero(rows)
    if not indices.size:
        return
    size, probability = formulas.negative_binomial_parameters(mean[indices], sd[indices])
    skewness = (2.0 - probability) / np.sqrt(size * (1.0 - probability))
    is_fill = fill[indices]
    cycle = np.flatnonzero(~is_fill)
    if cycle.size:
        n, p, alpha = size[cycle], probability[cycle], service_level[indices[cycle]]
        z = special.ndtri(alpha)
        guess = formulas.discrete_guess(mean[indices[cycle]], sd[indices[cycle]], skewness[cycle], z)
        protection_level[indices[cycle]] = formulas.smallest_integer_where(
            lambda k, i: formulas.negative_binomial_cdf(k, n[i], p[i]) >= alpha[i], guess
        )
        method[indices[cycle]] = 4
    filled = np.flatnonzero(is_fill)
    if filled.size:
        n, p, allowed = size[filled], probability[filled], allowed_shortage[indices[filled]]
        mu, sigma = mean[indices[filled]], sd[indices[filled]]
        guess = np.ceil(mu + formulas.normal_fill_rate_safety_factor(np.maximum(allowed / sigma, 1e-300)) * sigma)
        protection_level[indices[filled]] = formulas.smallest_integer_where(
            lambda k, i: formulas.negative_binomial_shortage(k, n[i], p[i]) <= allowed[i], guess
        )
        method[indices[filled]] = 5


def _empirical_rows(
    inputs: PolicyInputs, rows, fill, service_level, allowed_shortage, protection_level, method
) -> np.ndarray:  # noqa: ANN001
    if inputs.empirical_levels is None or inputs.empirical_quantiles is None:
        raise InvalidInput(
            "rows with the empirical demand model need empirical_levels and empirical_quantiles",
            field="empirical_quantiles",
        )
    levels = np.asarray(inputs.empirical_levels, dtype=float)
    quantiles = np.asarray(inputs.empirical_quantiles, dtype=float)
    size = rows.shape[0]
    indices = np.flatnonzero(rows)
    if (
        levels.ndim != 1
        or len(levels) < 2
        or np.any(np.diff(levels) <= 0)
        or levels[0] <= 0
        or levels[-1] >= 1
    ):
        raise InvalidInput(
            "must be at least two increasing probabilities strictly inside (0, 1)", field="empirical_levels"
        )
    if (
        quantiles.ndim != 2
        or quantiles.shape[1] != len(levels)
        or quantiles.shape[0] not in (size, len(indices))
    ):
        raise InvalidInput(
            f"must have shape (rows, {len(levels)}) with rows = {size} or the {len(indices)} empirical rows",
            field="empirical_quantiles",
        )
    own = quantiles[indices] if quantiles.shape[0] == size and size != len(indices) else quantiles
    if np.any(~np.isfinite(own)) or np.any(np.diff(own, axis=1) < 0) or np.any(own < 0):
        bad = int(
            indices[
                np.flatnonzero(
                    ~np.isfinite(own).all(axis=1)
                    | (np.diff(own, axis=1) < 0).any(axis=1)
                    | (own < 0).any(axis=1)
                )[0]
            ]
        )
        raise InvalidInput(
            f"row {bad}: quantiles must be finite, non-negative and non-decreasing",
            field="empirical_quantiles",
        )
    means = np.zeros(size)
    means[indices] = formulas.empirical_mean(levels, own)
    is_fill = fill[indices]
    cycle = np.flatnonzero(~is_fill)
    if cycle.size:
        protection_level[indices[cycle]] = formulas.empirical_quantile(
            levels, own[cycle], service_level[indices[cycle]]
        )
        method[indices[cycle]] = 6
    filled = np.flatnonzero(is_fill)
    if filled.size:
        table = own[filled]
        allowed = allowed_shortage[indices[filled]]
        low, high = table[:, 0].copy(), table[:, -1].copy()
        for _ in range(50):  # bisection on a continuous, non-increasing shortage
            middle = 0.5 * (low + high)
            enough = formulas.empirical_shortage(levels, table, middle) <= allowed
            high = np.where(enough, middle, high)
            low = np.where(enough, low, middle)
        protection_level[indices[filled]] = high
        method[indices[filled]] = 7
    return means
