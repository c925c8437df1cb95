"""GS1 identifiers: check digits, GTIN-14 and GLN-13 from EPC URIs, and the lookup keys of a
product (SGTIN, LGTIN class, GS1 Digital Link, GTIN) or a location (SGLN, GLN, Digital Link)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


def check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a digit string (GTIN, GLN, SSCC)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin14(company_prefix: str, item_ref: str) -> str:
    """GTIN-14 from an SGTIN's company prefix and item reference (indicator digit first)."""
    body = item_ref[:1] + company_prefix + item_ref[1:]
    return body + check_digit(body)


def gln13(company_prefix: str, location_ref: str) -> str:
    body = company_prefix + location_ref
    return body + check_digit(body)


def norm_gtin(value: str) -> str | None:
    return value.zfill(14) if value.isdigit() and len(value) in (8, 12, 13, 14) else None


@dataclass(frozen=True, slots=True)
class ProductId:
    candidates: tuple[str, ...]  # keys to look up in the mapping, most specific first
    lot: str | None = None


def parse_product(uri: str) -> ProductId:
    """The lookup keys of an EPC or EPC class: itself, its class pattern, its GTIN-14; and a lot."""
    if uri.startswith("urn:stockmesh:sku:"):
        body = uri.removeprefix("urn:stockmesh:sku:")
        sku, _, lot = body.partition(":lot:")
        return ProductId((uri, "sku:" + unquote(sku)), unquote(lot) if lot else None)
    m = re.fullmatch(r"urn:epc:(id|idpat):sgtin:(\d+)\.(\d+)\.(.+)", uri)
    if m:
        cp, ir = m.group(2), m.group(3)
        return ProductId((uri, f"urn:epc:idpat:sgtin:{cp}.{ir}.*", gtin14(cp, ir)))
    m = re.fullmatch(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)", uri)
    if m:
        cp, ir, lot = m.groups()
        return ProductId((uri, f"urn:epc:idpat:sgtin:{cp}.{ir}.*", gtin14(cp, ir)), unquote(lot))
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/01/(\d{14})(?:/10/([^/?#]+))?(?:/21/[^/?#]+)?/?(?:[?#].*)?", uri)
    if m:
        return ProductId((uri, m.group(1)), unquote(m.group(2)) if m.group(2) else None)
    gtin = norm_gtin(uri)
    return ProductId((uri, gtin) if gtin else (uri,))


def location_candidates(uri: str) -> tuple[str, ...]:
    if uri.startswith("urn:stockmesh:site:"):
        return (uri, "site:" + unquote(uri.removeprefix("urn:stockmesh:site:")))
    m = re.fullmatch(r"urn:epc:id:sgln:(\d+)\.(\d+)\.(.*)", uri)
    if m:
        cp, lr, ext = m.groups()
        return (uri, f"urn:epc:id:sgln:{cp}.{lr}.0", gln13(cp, lr))
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/414/(\d{13})(?:/254/[^/?#]+)?/?", uri)
    if m:
        return (uri, m.group(1))
    return (uri,)
