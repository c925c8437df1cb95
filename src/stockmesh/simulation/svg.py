"""Tiny, dependency-free SVG charts for the HTML report (lines, a band, bars).

The report must open anywhere without internet or a plotting stack, so charts are plain inline SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777", "#65a30d",
           "#ca8a04", "#1e40af", "#7c2d12")


def _scale(lo: float, hi: float, a: float, b: float):  # type: ignore[no-untyped-def]
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def line_chart(series: Mapping[str, Sequence[float]], *, title: str, width: int = 820, height: int = 280,
               band: tuple[Sequence[float], Sequence[float]] | None = None, y_label: str = "",
               markers: Sequence[int] = ()) -> str:
    """Lines over a common x axis (0..n-1); ``band`` shades (low, high); ``markers`` are x positions."""
    left, right, top, bottom = 60, 150, 30, 30
    n = max((len(v) for v in series.values()), default=0)
    values = [x for v in series.values() for x in v] + ([x for b in band for x in b] if band else [])
    lo, hi = min(values + [0.0]), max(values + [1.0])
    sx = _scale(0, max(n - 1, 1), left, width - right)
    sy = _scale(lo, hi, height - bottom, top)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>']
    for tick in range(5):
        v = lo + (hi - lo) * tick / 4
        parts.append(f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" font-size="10" text-anchor="end">{v:,.0f}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top - 8}" font-size="10">{escape(y_label)}</text>')
    if band:
        low, high = band
        points = [f"{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(high)]
        points += [f"{sx(i):.1f},{sy(v):.1f}" for i, v in reversed(list(enumerate(low)))]
        parts.append(f'<polygon points="{" ".join(points)}" fill="#93c5fd" opacity="0.35"/>')
    for x in markers:
        parts.append(f'<line x1="{sx(x):.1f}" y1="{top}" x2="{sx(x):.1f}" y2="{height - bottom}" '
                     f'stroke="#f59e0b" stroke-dasharray="2,3"/>')
    for k, (name, values_) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(values_))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<rect x="{width - right + 10}" y="{top + 14 * k}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{width - right + 24}" y="{top + 9 + 14 * k}" font-size="11">{escape(name)}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 8}" font-size="10" text-anchor="end">day</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(values: Mapping[str, float], *, title: str, width: int = 400, height: int = 240, fmt: str = "{:,.0f}",
              highlight: str | None = None) -> str:
    left, top, bottom = 10, 30, 40
    n = max(len(values), 1)
    hi = max(list(values.values()) + [1e-9])
    slot = (width - 2 * left) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (name, v) in enumerate(values.items()):
        h = (height - top - bottom) * (v / hi if hi else 0)
        x = left + i * slot + slot * 0.15
        colour = "#16a34a" if name == highlight else "#64748b"
        parts.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom - h - 4:.1f}" font-size="10" '
                     f'text-anchor="middle">{escape(fmt.format(v))}</text>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 14}" font-size="11" '
                     f'text-anchor="middle">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
