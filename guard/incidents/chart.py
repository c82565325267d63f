"""A small Mermaid `xychart-beta` of the probes: latency per watch round, failed rounds marked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from guard.outcomes import Phase, ProbeResult

# More bars than this are merged into ranges of rounds, so the chart stays readable.
MAX_POINTS = 30
LABEL_LIMIT = 16
FAILED_MARK = "✗"

WATCH_TITLE = "Slowest watch probe per round (ms)"
WATCH_AXIS = "round (✗ = a check failed)"
SMOKE_TITLE = "Smoke checks: latency (ms)"
SMOKE_AXIS = "check (✗ = failed)"
Y_AXIS = "latency (ms)"
WATCH_CAPTION = (
    "Each bar is the slowest watch probe of a round; a round marked {mark} had a failed probe "
    "or metric, and a missing bar means no probe answered.{merged}"
)
MERGED = " Rounds are merged {size} to a bar, each showing the slowest of them."
SMOKE_CAPTION = "Each bar is one smoke check; {mark} marks a failure, a missing bar no answer."


@dataclass(frozen=True)
class Chart:
    """The Mermaid source (without its fence) and the sentence under it."""

    source: str
    caption: str


@dataclass(frozen=True)
class _Point:
    label: str
    milliseconds: int
    failed: bool


def probe_chart(results: Sequence[ProbeResult]) -> Chart | None:
    """The watch rounds when there were any, else the smoke checks; None without a latency."""
    watch = [r for r in results if r.round > 0]
    if watch:
        points, size = _rounds(watch)
        merged = MERGED.format(size=size) if size > 1 else ""
        caption = WATCH_CAPTION.format(mark=FAILED_MARK, merged=merged)
        return _render(points, WATCH_TITLE, WATCH_AXIS, caption)
    smoke = [r for r in results if r.phase is Phase.SMOKE]
    points = _smoke(smoke)[:MAX_POINTS]
    return _render(points, SMOKE_TITLE, SMOKE_AXIS, SMOKE_CAPTION.format(mark=FAILED_MARK))


def _milliseconds(results: Sequence[ProbeResult]) -> int:
    latencies = [r.latency_s for r in results if r.latency_s is not None]
    return round(max(latencies) * 1000) if latencies else 0


def _rounds(results: Sequence[ProbeResult]) -> tuple[list[_Point], int]:
    numbers = sorted({r.round for r in results})
    size = math.ceil(len(numbers) / MAX_POINTS)
    points = []
    for start in range(0, len(numbers), size):
        group = numbers[start : start + size]
        members = [r for r in results if r.round in group]
        label = str(group[0]) if len(group) == 1 else f"{group[0]}-{group[-1]}"
        points.append(_point(label, members))
    return points, size


def _smoke(results: Sequence[ProbeResult]) -> list[_Point]:
    names = list(dict.fromkeys(r.name for r in results))
    return [_point(name, [r for r in results if r.name == name]) for name in names]


def _point(label: str, members: Sequence[ProbeResult]) -> _Point:
    failed = any(r.failed for r in members)
    # Only watch probes and smoke checks time a response; metrics carry values, not latency.
    timed = [r for r in members if r.phase is not Phase.METRIC]
    return _Point(label, _milliseconds(timed), failed)


def _quoted(text: str) -> str:
    short = text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"
    # Mermaid has no escape inside a quoted label: a double quote would end it.
    return '"' + short.replace('"', "'").replace("\n", " ") + '"'


def _render(points: Sequence[_Point], title: str, axis: str, caption: str) -> Chart | None:
    if not points or not any(p.milliseconds for p in points):
        return None
    labels = ", ".join(_quoted(f"{p.label} {FAILED_MARK}" if p.failed else p.label) for p in points)
    top = _axis_top(max(p.milliseconds for p in points))
    values = ", ".join(str(p.milliseconds) for p in points)
    source = "\n".join(
        [
            "xychart-beta",
            f"    title {_quoted_title(title)}",
            f"    x-axis {_quoted_title(axis)} [{labels}]",
            f"    y-axis {_quoted_title(Y_AXIS)} 0 --> {top}",
            f"    bar [{values}]",
        ]
    )
    return Chart(source, caption)


def _quoted_title(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _axis_top(highest: int) -> int:
    """A round number a little above the highest bar: 1,234 -> 1,400."""
    padded = highest * 1.1
    step = 10 ** max(0, len(str(int(padded))) - 2)
    return int(math.ceil(padded / step) * step)
