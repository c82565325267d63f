"""Freeze windows: whether a moment falls inside `from`..`to`, read on the window's own clock.

Three kinds, both ends of one kind:
- weekly, `Fri 16:00` -> `Mon 08:00`: every week, across the weekend when `to` comes first;
- dated, `2026-12-24 18:00` -> `2027-01-02 08:00`: once;
- daily, `22:00` -> `06:00`: every day, across midnight when `to` comes first.
Times are wall-clock times in the window's time zone, so a window keeps meaning
"Friday 16:00 in Berlin" on both sides of a daylight-saving change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from enum import StrEnum
from zoneinfo import ZoneInfo

from guard.policy.models import FreezeWindow

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Monday is 0, as datetime.weekday() counts; "fri" and "friday" both name Friday.
_DAY_NUMBERS = {name: number for number, day in enumerate(_WEEKDAYS) for name in (day, day[:3])}
_DAY_S = 24 * 60 * 60
_WEEK_S = 7 * _DAY_S

MIXED_KINDS = (
    'the freeze window "{start}" -> "{end}" mixes {first} and {second} times; give both ends '
    'the same way (weekday "Fri 16:00", date "2026-12-24 18:00", or time of day "22:00")'
)
ENDS_BEFORE_START = 'the freeze window "{start}" -> "{end}" ends before it starts'
NOT_AN_EDGE = (
    '"{text}" is not a freeze window edge (examples: "Fri 16:00", "16:00", "2026-12-24 18:00")'
)


class WindowError(ValueError):
    """A freeze window that cannot be read; the message says how to write it."""


class EdgeKind(StrEnum):
    WEEKLY = "weekday"
    DATED = "date"
    DAILY = "time of day"


@dataclass(frozen=True)
class Edge:
    """One end of a window: a weekday, a date or nothing, and a wall-clock time."""

    kind: EdgeKind
    at: clock_time
    weekday: int = 0
    day: date | None = None

    @property
    def seconds(self) -> int:
        """Seconds into the day (daily), or into the week from Monday 00:00 (weekly)."""
        of_day = self.at.hour * 3600 + self.at.minute * 60
        return self.weekday * _DAY_S + of_day if self.kind is EdgeKind.WEEKLY else of_day


def parse_edge(text: str) -> Edge:
    """`Fri 16:00`, `Friday 16:00`, `2026-12-24 18:00` or `16:00`."""
    parts = text.split()
    try:
        hour, minute = (int(part) for part in parts[-1].split(":"))
        at = clock_time(hour, minute)
    except (IndexError, ValueError):
        raise WindowError(NOT_AN_EDGE.format(text=text)) from None
    if len(parts) == 1:
        return Edge(EdgeKind.DAILY, at)
    if len(parts) != 2:
        raise WindowError(NOT_AN_EDGE.format(text=text))
    weekday = _DAY_NUMBERS.get(parts[0].lower())
    if weekday is not None:
        return Edge(EdgeKind.WEEKLY, at, weekday=weekday)
    try:
        return Edge(EdgeKind.DATED, at, day=date.fromisoformat(parts[0]))
    except ValueError:
        raise WindowError(NOT_AN_EDGE.format(text=text)) from None


@dataclass(frozen=True)
class Window:
    """A freeze window of the policy, ready to be asked about moments."""

    start: Edge
    end: Edge
    zone: ZoneInfo
    start_text: str
    end_text: str

    @classmethod
    def of(cls, window: FreezeWindow) -> Window:
        """The policy's window; raises WindowError when its two ends do not fit together."""
        start, end = parse_edge(window.from_), parse_edge(window.to)
        if start.kind is not end.kind:
            raise WindowError(
                MIXED_KINDS.format(
                    start=window.from_, end=window.to, first=start.kind, second=end.kind
                )
            )
        made = cls(start, end, ZoneInfo(window.timezone), window.from_, window.to)
        if start.kind is EdgeKind.DATED and made._instant(end) <= made._instant(start):
            raise WindowError(ENDS_BEFORE_START.format(start=window.from_, end=window.to))
        return made

    @property
    def label(self) -> str:
        """How the window is shown: `Fri 16:00 -> Mon 08:00 (Europe/Berlin)`."""
        return f"{self.start_text} -> {self.end_text} ({self.zone.key})"

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (an aware datetime) is inside: from `from`, up to but not at `to`."""
        if self.start.kind is EdgeKind.DATED:
            now = moment.astimezone(UTC)
            return self._instant(self.start) <= now < self._instant(self.end)
        position = self._position(moment)
        start, end = self.start.seconds, self.end.seconds
        if start == end:
            return False
        if start < end:
            return start <= position < end
        # `to` comes first in the day or week: the window wraps around midnight or Sunday.
        return position >= start or position < end

    def ends_at(self, moment: datetime) -> datetime:
        """When the window that holds `moment` ends, as an aware datetime in the window's zone."""
        if self.start.kind is EdgeKind.DATED:
            return self._instant(self.end).astimezone(self.zone)
        local = moment.astimezone(self.zone)
        period = _WEEK_S if self.start.kind is EdgeKind.WEEKLY else _DAY_S
        of_day = local.hour * 3600 + local.minute * 60 + local.second
        position = of_day + (local.weekday() * _DAY_S if period == _WEEK_S else 0)
        ahead = (self.end.seconds - position) % period
        # Counted on the wall clock from local midnight, not on the instant: a daylight-saving
        # change in between moves the instant and keeps the wall time the policy names.
        midnight = datetime.combine(local.date(), clock_time(0, 0))
        return (midnight + timedelta(seconds=of_day + ahead)).replace(tzinfo=self.zone)

    def _position(self, moment: datetime) -> float:
        local = moment.astimezone(self.zone)
        of_day = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        if self.start.kind is EdgeKind.WEEKLY:
            return local.weekday() * _DAY_S + of_day
        return of_day

    def _instant(self, edge: Edge) -> datetime:
        assert edge.day is not None
        # Compared in UTC: aware datetimes sharing a tzinfo compare by wall time, not instant.
        return datetime.combine(edge.day, edge.at, tzinfo=self.zone).astimezone(UTC)


def describe_end(moment: datetime) -> str:
    """`Mon 30 Nov 2026 08:00 CET`: how a person reads when a freeze ends."""
    return moment.strftime("%a %d %b %Y %H:%M %Z")
