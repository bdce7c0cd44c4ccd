"""Charts as server-rendered SVG: no script, no external asset, nothing the CSP must allow.

Colours come from CSS classes in app.css (``.bar-0`` ...), so the SVG carries no style.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


def lines(
    title: str,
    points: Sequence[tuple[datetime, Sequence[float]]],
    measures: Sequence[str],
    *,
    width: int = 640,
    height: int = 240,
) -> Markup:
    """A time series: one line per measure (``.line-MEASURE`` colours it) over a time axis
    scaled by date (uneven gaps between points show as such), with a legend and each point's
    value in its tooltip."""
    left, right, top, bottom = 56, 16, 12, 44
    span_x, span_y = width - left - right, height - top - bottom
    parts = [
        f'<svg class="chart lines" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    if not points:
        parts.append("</svg>")
        return Markup("".join(parts))
    first, last = points[0][0].timestamp(), points[-1][0].timestamp()
    peak = max((max(values, default=0) for _, values in points), default=0) or 1

    def x(at: datetime) -> float:
        return left + (span_x * (at.timestamp() - first) / (last - first) if last > first else 0)

    def y(value: float) -> float:
        return top + span_y - span_y * value / peak

    for fraction in (0, 0.5, 1):  # the value axis: 0, half, the peak
        level = y(peak * fraction)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{level:.1f}" '
            f'y2="{level:.1f}"/><text class="chart-value small" x="{left - 6}" '
            f'y="{level + 4:.1f}" text-anchor="end">{escape(_number(peak * fraction))}</text>'
        )
    ends = [(points[0][0], "start"), (points[-1][0], "end")][: 1 if last == first else 2]
    for at, anchor in ends:  # the time axis: the first and last dates
        parts.append(
            f'<text class="chart-value small" x="{x(at):.1f}" y="{top + span_y + 16}" '
            f'text-anchor="{anchor}">{at:%Y-%m-%d}</text>'
        )
    for j, measure in enumerate(measures):
        xy = [(x(at), y(values[j])) for at, values in points]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in xy)
        parts.append(f'<polyline class="line-{measure}" fill="none" points="{path}"/>')
        for (px, py), (at, values) in zip(xy, points, strict=True):
            parts.append(
                f'<circle class="line-{measure}" cx="{px:.1f}" cy="{py:.1f}" r="3">'
                f"<title>{measure} {values[j]:,.0f} on {at:%Y-%m-%d %H:%M}</title></circle>"
            )
    parts.append(f'<g class="legend" transform="translate({left},{height - 12})">')
    for j, measure in enumerate(measures):
        parts.append(
            f'<rect class="line-{measure}" x="{j * 90}" width="10" height="10"/>'
            f'<text x="{j * 90 + 14}" y="9">{escape(measure)}</text>'
        )
    parts.append("</g></svg>")
    return Markup("".join(parts))


def trend_lines(report: Any) -> Markup:
    """The trends report as lines: assigned, active and stale seats per reconciliation."""
    from shelfware.overview.service import trend_points

    points = trend_points(r for r in report.rows if r.row_type == "total")
    return lines(
        "Assigned, active and stale seats at each stored reconciliation",
        [(p.as_of, (p.assigned, p.active, p.stale)) for p in points],
        ("assigned", "active", "stale"),
    )
