"""Distributions as scenarios write them: a number, or a one-key mapping naming the family.

    5                               fixed value
    {fixed: 5}                      the same
    {uniform: [1, 50]}              uniform on [1, 50] (for day counts: integers 1..50, inclusive)
    {loguniform: [0.2, 20]}         log-uniform on [0.2, 20]
    {normal: {mean: 6, sd: 2}}      normal (day counts are rounded and kept >= 1)
    {choice: [3, 5, 7]}             one of the values, equally likely
    {discrete: {values: [3, 5, 7], probs: [0.5, 0.3, 0.2]}}

Parameters of SKUs and demand models are *sampled* from them (one draw per SKU or per store x
SKU); lead and transit times are *distributions of days* (``pmf``), sampled per order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stockmesh.simulation.errors import ScenarioError

FAMILIES = ("fixed", "uniform", "loguniform", "normal", "choice", "discrete")


@dataclass(frozen=True)
class Distribution:
    """A parsed distribution. ``values``/``probs`` are used by choice and discrete."""

    family: str
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    sd: float = 0.0
    values: tuple[float, ...] = ()
    probs: tuple[float, ...] = ()

    @property
    def minimum(self) -> float:
        if self.family in ("fixed",):
            return self.mean
        if self.family in ("uniform", "loguniform"):
            return self.low
        if self.family == "normal":
            return -np.inf
        return min(self.values)

    @property
    def maximum(self) -> float:
        if self.family == "fixed":
            return self.mean
        if self.family in ("uniform", "loguniform"):
            return self.high
        if self.family == "normal":
            return np.inf
        return max(self.values)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent real-valued draws."""
        if self.family == "fixed":
            return np.full(size, self.mean, dtype=np.float64)
        if self.family == "uniform":
            return rng.uniform(self.low, self.high, size)
        if self.family == "loguniform":
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), size))
        if self.family == "normal":
            return rng.normal(self.mean, self.sd, size)
        probs = np.asarray(self.probs) if self.probs else None
        return rng.choice(np.asarray(self.values, dtype=np.float64), size=size, p=probs)

    def day_pmf(self, minimum_days: int = 1) -> np.ndarray:
        """Probability of each whole number of days 0..max (index = days), for lead and transit times."""
        if self.family == "fixed":
            days = np.array([max(round(self.mean), minimum_days)])
            probs = np.array([1.0])
        elif self.family == "uniform":
            days = np.arange(int(np.ceil(self.low)), int(np.floor(self.high)) + 1)
            probs = np.full(days.size, 1.0 / days.size)
        elif self.family == "normal":
            grid = np.arange(0, int(np.ceil(self.mean + 5 * self.sd)) + 2)
            from scipy.stats import norm

            edges = norm.cdf(grid + 0.5, self.mean, self.sd) - norm.cdf(grid - 0.5, self.mean, self.sd)
            days, probs = grid, edges / edges.sum()
        elif self.family == "loguniform":
            grid = np.arange(int(np.floor(self.low)), int(np.ceil(self.high)) + 1)
            cdf = np.clip((np.log(np.maximum(grid + 0.5, 1e-9)) - np.log(self.low)) / np.log(self.high / self.low), 0, 1)
            probs = np.diff(np.concatenate([[0.0], cdf]))
            days, probs = grid, probs / probs.sum()
        else:
            days = np.rint(np.asarray(self.values)).astype(int)
            probs = np.asarray(self.probs) if self.probs else np.full(days.size, 1.0 / days.size)
        days = np.maximum(days.astype(int), minimum_days)
        pmf = np.zeros(int(days.max()) + 1)
        np.add.at(pmf, days, probs)
        return pmf / pmf.sum()


def parse_distribution(node: object, path: str, *, minimum: float | None = None,
                       maximum: float | None = None) -> Distribution:
    """Read a distribution written as in the module docstring; errors name ``path``."""
    if isinstance(node, bool):
        raise ScenarioError(path, f"expected a number or a distribution, got {node!r}")
    if isinstance(node, int | float):
        dist = Distribution("fixed", mean=float(node))
    elif isinstance(node, dict):
        if len(node) != 1:
            raise ScenarioError(path, f"a distribution is one of {', '.join(FAMILIES)}: write e.g. {{uniform: [1, 50]}}")
        (family, args), = node.items()
        where = f"{path}.{family}"
        if family == "fixed":
            dist = Distribution("fixed", mean=_number(args, where))
        elif family in ("uniform", "loguniform"):
            if not (isinstance(args, list) and len(args) == 2):
                raise ScenarioError(where, "expected [low, high]")
            low, high = _number(args[0], f"{where}[0]"), _number(args[1], f"{where}[1]")
            if low > high:
                raise ScenarioError(where, f"low {low} is above high {high}")
            if family == "loguniform" and low <= 0:
                raise ScenarioError(where, "loguniform needs low > 0")
            dist = Distribution(family, low=low, high=high)
        elif family == "normal":
            if not isinstance(args, dict) or set(args) != {"mean", "sd"}:
                raise ScenarioError(where, "expected {mean: ..., sd: ...}")
            sd = _number(args["sd"], f"{where}.sd")
            if sd < 0:
                raise ScenarioError(f"{where}.sd", "must be >= 0")
            dist = Distribution("normal", mean=_number(args["mean"], f"{where}.mean"), sd=sd)
        elif family == "choice":
            if not isinstance(args, list) or not args:
                raise ScenarioError(where, "expected a non-empty list of values")
            dist = Distribution("choice", values=tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(args)))
        elif family == "discrete":
            if not isinstance(args, dict) or set(args) != {"values", "probs"}:
                raise ScenarioError(where, "expected {values: [...], probs: [...]}")
            values, probs = args["values"], args["probs"]
            if not isinstance(values, list) or not isinstance(probs, list) or len(values) != len(probs) or not values:
                raise ScenarioError(where, "values and probs must be lists of the same, non-zero length")
            parsed_probs = tuple(_number(p, f"{where}.probs[{i}]") for i, p in enumerate(probs))
            if any(p < 0 for p in parsed_probs) or abs(sum(parsed_probs) - 1) > 1e-6:
                raise ScenarioError(f"{where}.probs", "probabilities must be >= 0 and sum to 1")
            dist = Distribution(
                "discrete",
                values=tuple(_number(v, f"{where}.values[{i}]") for i, v in enumerate(values)),
                probs=parsed_probs,
            )
        else:
            raise ScenarioError(f"{path}.{family}", f"unknown distribution; use one of {', '.join(FAMILIES)}")
    else:
        raise ScenarioError(path, f"expected a number or a distribution, got {type(node).__name__}")
    if minimum is not None and dist.minimum < minimum:
        raise ScenarioError(path, f"values must be >= {minimum}")
    if maximum is not None and dist.maximum > maximum:
        raise ScenarioError(path, f"values must be <= {maximum}")
    return dist


def _number(node: object, path: str) -> float:
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise ScenarioError(path, f"expected a number, got {node!r}")
    if not math.isfinite(node):  # .nan, .inf: no draw or bound means anything with them
        raise ScenarioError(path, f"expected a finite number, got {node}")
    return float(node)
