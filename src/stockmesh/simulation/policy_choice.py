"""Which policy a simulation runs, as a typed value: a baseline, or the agents and their options.

A scenario's ``policy`` key, ``stockmesh simulate --policy`` and ``stockmesh backtest --policy``
take names (``minmax``, ``agents``, ``agents+lp``, ``agents-own-shipment``, ...). Each name is
parsed here once, where it comes in (``parse_policy``); what travels inward is a ``PolicyChoice``,
and ``simulate.make_policy`` builds the policy from its fields, never from the name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASELINES = ("minmax", "reorder-level", "oracle", "hindsight")
# A DC's stock split over its stores: one day's problem (``lp``, ``greedy``, ``fair-share``,
# ``proportional``) or the LP over the lead-time horizon's demand scenarios (``horizon-lp``).
ALLOCATION_METHODS = ("lp", "greedy", "fair-share", "proportional", "horizon-lp")


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentsConfig:
    """The agents and what runs with them: a DC allocation method, lateral rebalancing between
    stores, joint replenishment (consolidation: fill the truck), a whole shipment priced per SKU
    (own shipment), expediting late orders. At most one at a time: each is defined, and measured,
    over the plain agents, not over another."""

    allocation: str | None = None
    rebalancing: bool = False
    consolidation: bool = False
    own_shipment: bool = False
    expediting: bool = False

    def __post_init__(self) -> None:
        if self.allocation is not None and self.allocation not in ALLOCATION_METHODS:
            raise ValueError(f"unknown allocation method '{self.allocation}'; expected one of "
                             f"{', '.join(ALLOCATION_METHODS)}")
        chosen = [self.allocation is not None, self.rebalancing, self.consolidation, self.own_shipment,
                  self.expediting]
        if sum(chosen) > 1:
            raise ValueError("the agents run with one of allocation, rebalancing, consolidation, own shipment "
                             "or expediting at a time")

    @property
    def name(self) -> str:
        if self.allocation is not None:
            return f"agents+{self.allocation}"
        if self.own_shipment:
            return "agents-own-shipment"
        for option, on in (("rebalancing", self.rebalancing), ("consolidation", self.consolidation),
                           ("expediting", self.expediting)):
            if on:
                return f"agents+{option}"
        return "agents"


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyChoice:
    """A baseline (``minmax``, ``reorder-level``, ``oracle``, ``hindsight``) or, with ``baseline``
    None, the agents configured by ``agents``."""

    baseline: str | None = None
    agents: AgentsConfig = field(default_factory=AgentsConfig)

    def __post_init__(self) -> None:
        if self.baseline is not None and self.baseline not in BASELINES:
            raise ValueError(f"unknown baseline '{self.baseline}'; expected one of {', '.join(BASELINES)}")
        if self.baseline is not None and self.agents != AgentsConfig():
            raise ValueError(f"the {self.baseline} baseline takes no agents options")

    @property
    def name(self) -> str:
        return self.baseline if self.baseline is not None else self.agents.name


_CHOICES = (
    *(PolicyChoice(baseline=b) for b in BASELINES),
    PolicyChoice(),
    PolicyChoice(agents=AgentsConfig(rebalancing=True)),
    PolicyChoice(agents=AgentsConfig(allocation="horizon-lp")),
    *(PolicyChoice(agents=AgentsConfig(allocation=m)) for m in ("lp", "greedy", "fair-share", "proportional")),
    PolicyChoice(agents=AgentsConfig(consolidation=True)),
    PolicyChoice(agents=AgentsConfig(own_shipment=True)),
    PolicyChoice(agents=AgentsConfig(expediting=True)),
)
_BY_NAME = {choice.name: choice for choice in _CHOICES}
POLICY_NAMES = tuple(_BY_NAME)


def parse_policy(name: str) -> PolicyChoice:
    """The choice a policy name stands for; ``ValueError`` naming it if there is none."""
    choice = _BY_NAME.get(name)
    if choice is None:
        raise ValueError(f"unknown policy '{name}'; expected one of {', '.join(POLICY_NAMES)}")
    return choice
