"""Policy documents: what governance is allowed to do, as a versioned YAML document.

A document is validated strictly (unknown keys are refused, each error names its path) and stored
whole in a ``PolicyVersionPublished`` event, so every decision can name the exact version it used.
See docs/governance.md for the fields.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stockmesh.domain.errors import InvalidInput

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
TIERS = ("manual", "supervised", "autonomous")
SAFETY_STOCK_METHODS = ("normal", "poisson", "negative_binomial", "empirical", "none")
PERIODS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Scope:
    sites: tuple[str, ...] = ("*",)  # glob patterns
    sku_classes: tuple[str, ...] = ("*",)

    def covers_site(self, site: str) -> bool:
        return any(fnmatch.fnmatchcase(site, p) for p in self.sites)

    def covers_class(self, sku_class: str | None) -> bool:
        if "*" in self.sku_classes:
            return True
        return sku_class is not None and sku_class in self.sku_classes


@dataclass(frozen=True, slots=True)
class ServiceTargets:
    cycle_service_level: float = 0.95
    fill_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    period: str = "month"
    per_supplier: float | None = None
    per_site: float | None = None


@dataclass(frozen=True, slots=True)
class Guardrails:
    max_order_value: float | None = None
    max_order_qty: int | None = None
    max_forecast_multiple: float | None = None  # qty <= this x forecast demand over the cover horizon
    max_change_vs_last_order: float | None = None  # |qty - last| / last (hysteresis)
    budget: Budget = field(default_factory=Budget)
    max_blast_radius: int | None = None  # SKU x sites one decision may touch
    max_data_age_hours: float | None = None  # older inputs put the site in safe mode


@dataclass(frozen=True, slots=True)
class Autonomy:
    tier: str = "supervised"
    auto_approve_max_risk: float = 1000.0
    approval_ttl_hours: float = 48.0


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """One version of a named policy. ``key`` = ``name@version`` is what decisions record."""

    name: str
    version: str
    description: str = ""
    scope: Scope = field(default_factory=Scope)
    service: ServiceTargets = field(default_factory=ServiceTargets)
    safety_stock_method: str = "normal"
    review_period_days: int = 7
    lead_time_days: int = 7  # default cover horizon when a proposal does not carry its own
    guardrails: Guardrails = field(default_factory=Guardrails)
    autonomy: Autonomy = field(default_factory=Autonomy)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scope"] = {"sites": list(self.scope.sites), "sku_classes": list(self.scope.sku_classes)}
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# --- parsing -------------------------------------------------------------------------------------

def _obj(path: str, value: Any, allowed: set[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput("must be a mapping", field=path)
    for key in value:
        if key not in allowed:
            raise InvalidInput(f"unknown key (allowed: {', '.join(sorted(allowed))})", field=f"{path}.{key}".lstrip("."))
    return value


def _number(path: str, value: Any, *, low: float = 0.0, high: float = 1e12, optional: bool = True,
            integer: bool = False) -> Any:
    if value is None:
        if optional:
            return None
        raise InvalidInput("is required", field=path)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise InvalidInput(f"must be {'an integer' if integer else 'a number'}", field=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("must be finite", field=path)
    if not low <= value <= high:
        raise InvalidInput(f"must be between {low:g} and {high:g}", field=path)
    return int(value) if integer else float(value)


def _choice(path: str, value: Any, options: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in options:
        raise InvalidInput(f"must be one of {', '.join(options)}", field=path)
    return str(value)


def _patterns(path: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ("*",)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and 0 < len(v) <= 128 for v in value):
        raise InvalidInput("must be a non-empty list of strings", field=path)
    return tuple(value)


def parse_policy(data: Any) -> PolicyDocument:
    """Build a ``PolicyDocument`` from parsed YAML/JSON, refusing unknown keys and bad values."""
    top = _obj("", data, {"name", "version", "description", "scope", "service", "safety_stock", "review_period_days",
                          "lead_time_days", "guardrails", "autonomy"})
    name, version = top.get("name"), top.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput("must be 1-64 characters of a-z 0-9 . _ -", field="name")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise InvalidInput("must be 1-64 characters of A-Z a-z 0-9 . _ + -", field="version")
    description = top.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput("must be a string of at most 2000 characters", field="description")
    scope = _obj("scope", top.get("scope"), {"sites", "sku_classes"})
    service = _obj("service", top.get("service"), {"cycle_service_level", "fill_rate"})
    safety = _obj("safety_stock", top.get("safety_stock"), {"method"})
    rails = _obj("guardrails", top.get("guardrails"), {
        "max_order_value", "max_order_qty", "max_forecast_multiple", "max_change_vs_last_order", "budget",
        "max_blast_radius", "max_data_age_hours"})
    budget = _obj("guardrails.budget", rails.get("budget"), {"period", "per_supplier", "per_site"})
    autonomy = _obj("autonomy", top.get("autonomy"), {"tier", "auto_approve_max_risk", "approval_ttl_hours"})
    cycle = _number("service.cycle_service_level", service.get("cycle_service_level", 0.95), low=0.5, high=0.9999)
    return PolicyDocument(
        name=name, version=version, description=description,
        scope=Scope(_patterns("scope.sites", scope.get("sites")), _patterns("scope.sku_classes", scope.get("sku_classes"))),
        service=ServiceTargets(cycle, _number("service.fill_rate", service.get("fill_rate"), low=0.5, high=1.0)),
        safety_stock_method=_choice("safety_stock.method", safety.get("method"), SAFETY_STOCK_METHODS, "normal"),
        review_period_days=_number("review_period_days", top.get("review_period_days", 7), low=1, high=365,
                                   integer=True),
        lead_time_days=_number("lead_time_days", top.get("lead_time_days", 7), low=0, high=365, integer=True),
        guardrails=Guardrails(
            max_order_value=_number("guardrails.max_order_value", rails.get("max_order_value")),
            max_order_qty=_number("guardrails.max_order_qty", rails.get("max_order_qty"), low=1, integer=True),
            max_forecast_multiple=_number("guardrails.max_forecast_multiple", rails.get("max_forecast_multiple"),
                                          low=0.01, high=1000),
            max_change_vs_last_order=_number("guardrails.max_change_vs_last_order",
                                             rails.get("max_change_vs_last_order"), low=0.0, high=1000),
            budget=Budget(_choice("guardrails.budget.period", budget.get("period"), PERIODS, "month"),
                          _number("guardrails.budget.per_supplier", budget.get("per_supplier")),
                          _number("guardrails.budget.per_site", budget.get("per_site"))),
            max_blast_radius=_number("guardrails.max_blast_radius", rails.get("max_blast_radius"), low=1,
                                     high=10**9, integer=True),
            max_data_age_hours=_number("guardrails.max_data_age_hours", rails.get("max_data_age_hours"),
                                       low=0.01, high=24 * 3650),
        ),
        autonomy=Autonomy(
            tier=_choice("autonomy.tier", autonomy.get("tier"), TIERS, "supervised"),
            auto_approve_max_risk=_number("autonomy.auto_approve_max_risk",
                                          autonomy.get("auto_approve_max_risk", 1000.0), optional=False),
            approval_ttl_hours=_number("autonomy.approval_ttl_hours", autonomy.get("approval_ttl_hours", 48.0),
                                       low=0.01, high=24 * 365, optional=False),
        ),
    )


def load_policy_text(text: str | bytes) -> PolicyDocument:
    """Parse a YAML policy document (text, or the bytes of a file: UTF-8) with the strict loader:
    a key given twice, deep nesting or an absurd number is an error naming its line."""
    from stockmesh.governance.strict_yaml import load_yaml

    if len(text) > 200_000:
        raise InvalidInput("policy document is larger than 200 kB")
    return parse_policy(load_yaml(text))


def policy_from_event_document(document: Mapping[str, Any]) -> PolicyDocument:
    """Rebuild a stored document (``PolicyDocument.to_dict`` shape) into a ``PolicyDocument``."""
    data = dict(document)
    data["safety_stock"] = {"method": data.pop("safety_stock_method", "normal")}
    return parse_policy(data)
