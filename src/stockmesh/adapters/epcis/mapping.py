"""The user's mapping table (YAML or JSON): products to SKUs (with unit conversions), locations to
sites, custom bizSteps to CBV steps or ``ignore``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stockmesh.adapters.epcis.identifiers import location_candidates, norm_gtin, parse_product
from stockmesh.adapters.epcis.vocabulary import BIZSTEP_SPELLINGS, BIZSTEPS, cbv_word
from stockmesh.domain.commands import ID_PATTERN
from stockmesh.domain.errors import InvalidInput
from stockmesh.governance.strict_yaml import load_yaml


@dataclass(slots=True)
class ProductMapping:
    sku: str
    units_per: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class EpcisMapping:
    """The user's mapping table: products -> SKUs, locations -> sites, custom bizSteps."""

    products: dict[str, ProductMapping] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    bizsteps: dict[str, str] = field(default_factory=dict)

    def product(self, uri: str) -> tuple[ProductMapping, str | None] | None:
        pid = parse_product(uri)
        for key in pid.candidates:
            if key.startswith("sku:"):
                return ProductMapping(key[4:]), pid.lot
            found = self.products.get(key)
            if found is not None:
                return found, pid.lot
        return None

    def site(self, uri: str) -> str | None:
        for key in location_candidates(uri):
            if key.startswith("site:"):
                return key[5:]
            found = self.locations.get(key)
            if found is not None:
                return found
        return None

    def product_uri(self, sku: str, lot: str | None) -> str:
        """Our SKU (and lot) as an EPC class, through the mapping when it names the SKU."""
        for key, pm in self.products.items():
            if pm.sku != sku:
                continue
            if key.isdigit():
                return f"https://id.gs1.org/01/{key}" + (f"/10/{quote(lot, safe='')}" if lot else "")
            m = re.fullmatch(r"urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*", key)
            if m:
                return (f"urn:epc:class:lgtin:{m.group(1)}.{m.group(2)}.{quote(lot, safe='')}" if lot else key)
        return f"urn:stockmesh:sku:{quote(sku, safe='')}" + (f":lot:{quote(lot, safe='')}" if lot else "")

    def location_uri(self, site: str) -> str:
        for key, value in self.locations.items():
            if value == site:
                return f"https://id.gs1.org/414/{key}" if key.isdigit() else key
        return f"urn:stockmesh:site:{quote(site, safe='')}"


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"must map to a valid identifier, got {value!r}"[:160], field=where)
    return value


def load_mapping(source: Path | str | Mapping[str, Any] | None) -> EpcisMapping:
    """Read a mapping table (YAML or JSON file, or an already-loaded dict). None: identity only
    (our own ``urn:stockmesh:`` identifiers)."""
    if source is None:
        return EpcisMapping()
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        try:
            text = Path(source).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read mapping {source}: {exc.strerror}", field="mapping") from exc
        try:
            raw = load_yaml(text)
        except InvalidInput as exc:
            raise InvalidInput(f"mapping {source}: {exc}"[:300], field="mapping") from None
    if not isinstance(raw, Mapping):
        raise InvalidInput("mapping must be an object with products and locations", field="mapping")
    unknown = set(raw) - {"products", "locations", "bizsteps"}
    if unknown:
        raise InvalidInput(f"unknown section {sorted(unknown)[0]!r}", field="mapping")
    out = EpcisMapping()
    for key, value in (raw.get("products") or {}).items():
        where = f"products.{key}"
        key = str(key)
        norm = norm_gtin(key) or key
        if isinstance(value, Mapping):
            units = value.get("units_per") or {}
            if not isinstance(units, Mapping) or not all(
                    isinstance(f, int | float) and not isinstance(f, bool) and f > 0 for f in units.values()):
                raise InvalidInput("units_per must map a unit code to a positive factor", field=where)
            out.products[norm] = ProductMapping(_identifier(value.get("sku"), where + ".sku"),
                                                {str(k): float(v) for k, v in units.items()})
        else:
            out.products[norm] = ProductMapping(_identifier(value, where))
    for key, value in (raw.get("locations") or {}).items():
        key = str(key)
        norm = key.zfill(13) if key.isdigit() and len(key) <= 13 else key
        out.locations[norm] = _identifier(value, f"locations.{key}")
    for key, value in (raw.get("bizsteps") or {}).items():
        step = cbv_word(str(value), BIZSTEP_SPELLINGS)
        if step != "ignore" and step not in BIZSTEPS:
            raise InvalidInput(f"must be a CBV bizStep or 'ignore', got {step!r}", field=f"bizsteps.{key}")
        out.bizsteps[str(key)] = step
    return out
