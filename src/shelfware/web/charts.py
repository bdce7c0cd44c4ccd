"""Charts as server-rendered SVG: no script, no external asset, nothing the CSP must allow.

Colours come from CSS classes in app.css (``.bar-0`` ...), so the SVG carries no style.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ROW = 28
LABEL = 120
GAP = 6


def bars(
    title: str, items: Sequence[tuple[str, float]], *, width: int = 520, unit: str = ""
) -> Markup:
    """Horizontal bars, one per item, scaled to the largest value."""
    top = max((v for _, v in items), default=0) or 1
    span = width - LABEL - 90
    height = ROW * max(len(items), 1) + GAP
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = i * ROW + GAP
        w = max(1.0, span * value / top) if value else 0.0
        parts.append(
            f'<text class="chart-label" x="{LABEL - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar-{i % 6}" x="{LABEL}" y="{y}" width="{w:.1f}" height="{ROW - 8}"'
            ' rx="3"/>'
            f'<text class="chart-value" x="{LABEL + w + 6:.1f}" y="{y + 15}">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped(
    title: str,
    rows: Sequence[tuple[str, Sequence[int]]],
    kinds: Sequence[str],
    *,
    width: int = 520,
) -> Markup:
    """Per row: its label, then one thin bar per kind (``.seat-KIND`` colours it), on one
    scale, with a legend."""
    top = max((max(values, default=0) for _, values in rows), default=0) or 1
    span = width - 120
    block = 18 + len(kinds) * 12 + 10
    height = block * max(len(rows), 1) + 24
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, values) in enumerate(rows):
        y0 = i * block + 4
        parts.append(f'<text class="chart-label" x="0" y="{y0 + 12}">{escape(label)}</text>')
        for j, (kind, value) in enumerate(zip(kinds, values, strict=True)):
            y = y0 + 18 + j * 12
            w = max(1.0, span * value / top) if value else 0.0
            parts.append(
                f'<rect class="seat-{kind}" x="0" y="{y}" width="{w:.1f}" height="10"/>'
                f'<text class="chart-value small" x="{w + 4:.1f}" y="{y + 9}">'
                f"{kind} {value:,}</text>"
            )
    parts.append(f'<g class="legend" transform="translate(0,{height - 12})">')
    for j, kind in enumerate(kinds):
        x = j * 80
        parts.append(
            f'<rect class="seat-{kind}" x="{x}" width="10" height="10"/>'
            f'<text x="{x + 14}" y="9">{kind}</text>'
        )
    parts.append("</g></svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
