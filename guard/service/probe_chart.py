"""A small inline SVG of probe latency per round, failures in red: the run page's picture."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from guard.outcomes import ProbeResult, ProbeStatus, format_latency

WIDTH = 640
HEIGHT = 200
MARGIN = 32
# A page with thousands of points says no more than one with a few hundred.
MAX_POINTS = 400
COLORS = {ProbeStatus.PASS: "#2da44e", ProbeStatus.FAIL: "#cf222e", ProbeStatus.NO_DATA: "#8c959f"}


def probe_chart_svg(results: Sequence[ProbeResult]) -> str:
    """An SVG scatter of latency (y) by round (x); empty string when nothing has a latency."""
    points = [r for r in results if r.latency_s is not None][-MAX_POINTS:]
    if not points:
        return ""
    max_round = max(r.round for r in points) or 1
    max_latency = max(r.latency_s or 0.0 for r in points) or 0.001
    plot_w = WIDTH - 2 * MARGIN
    plot_h = HEIGHT - 2 * MARGIN
    circles = []
    for result in points:
        x = MARGIN + plot_w * (result.round / max_round)
        y = HEIGHT - MARGIN - plot_h * ((result.latency_s or 0.0) / max_latency)
        label = escape(f"{result.name}, round {result.round}: {result.summary}")
        circles.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLORS[result.status]}">'
            f"<title>{label}</title></circle>"
        )
    axis = (
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="#57606a"/>'
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="#57606a"/>'
        f'<text x="{MARGIN}" y="{MARGIN - 8}" font-size="11">{escape(format_latency(max_latency))}'
        f"</text>"
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">'
        f"round {max_round}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="probe latency per round">{axis}{"".join(circles)}</svg>'
    )
