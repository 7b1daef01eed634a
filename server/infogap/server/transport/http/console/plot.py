"""An inline SVG plot of estimates with their confidence intervals: one row per label, a dot at
the value and a bar from low to high, on a shared axis that includes 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infogap.server.transport.http.console.page import esc, number

WIDTH = 640
ROW_HEIGHT = 34
LABEL_WIDTH = 150
MARGIN = 20
AXIS_HEIGHT = 30


@dataclass(frozen=True)
class Interval:
    """One row of the plot."""

    label: str
    value: float
    low: float
    high: float


def interval_plot(title: str, rows: Sequence[Interval]) -> str:
    """The SVG element of ``rows`` (an empty axis for none), titled ``title``."""
    height = MARGIN + ROW_HEIGHT * max(len(rows), 1) + AXIS_HEIGHT
    bounds = [0.0] + [v for r in rows for v in (r.low, r.high, r.value)]
    start, end = min(bounds), max(bounds)
    if end - start <= 0:
        end = start + 1.0
    plot_width = WIDTH - LABEL_WIDTH - 2 * MARGIN

    def x(value: float) -> float:
        return LABEL_WIDTH + MARGIN + (value - start) / (end - start) * plot_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="interval-plot" role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f"<title>{esc(title)}</title>",
    ]
    for n, row in enumerate(rows):
        y = MARGIN + ROW_HEIGHT * n + ROW_HEIGHT / 2
        parts.append(
            f'<text x="{LABEL_WIDTH}" y="{y + 4:.1f}" text-anchor="end" font-size="13">'
            f"{esc(row.label)}</text>"
            f'<line x1="{x(row.low):.1f}" x2="{x(row.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#3b6ea5" stroke-width="3"/>'
            f'<circle cx="{x(row.value):.1f}" cy="{y:.1f}" r="5" fill="#1d2b3a">'
            f"<title>{esc(row.label)}: {number(row.value)} ({number(row.low)} to "
            f"{number(row.high)})</title></circle>"
        )
    axis_y = height - AXIS_HEIGHT + 6
    parts.append(
        f'<line x1="{x(start):.1f}" x2="{x(end):.1f}" y1="{axis_y}" y2="{axis_y}" '
        'stroke="#66707a"/>'
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{MARGIN / 2}" y2="{axis_y}" '
        'stroke="#b8c0c8" stroke-dasharray="3 3"/>'
    )
    for value in (start, (start + end) / 2, end):
        parts.append(
            f'<text x="{x(value):.1f}" y="{axis_y + 16}" text-anchor="middle" font-size="11" '
            f'fill="#66707a">{esc(number(value, 3))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
