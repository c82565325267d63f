"""Freeze windows on their own clocks: weekends, midnight, New Year and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard.gate.freeze import EdgeKind, Window, WindowError, describe_end, parse_edge
from guard.policy.models import FreezeWindow

BERLIN = ZoneInfo("Europe/Berlin")


def window(start: str, end: str, zone: str = "Europe/Berlin") -> Window:
    return Window.of(FreezeWindow.model_validate({"from": start, "to": end, "timezone": zone}))


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


WEEKEND = window("Fri 16:00", "Mon 08:00")


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        # Friday 27 Nov 2026.
        (berlin(2026, 11, 27, 15, 59), False),
        (berlin(2026, 11, 27, 16, 0), True),
        (berlin(2026, 11, 28, 12, 0), True),
        (berlin(2026, 11, 29, 23, 59), True),
        (berlin(2026, 11, 30, 7, 59), True),
        (berlin(2026, 11, 30, 8, 0), False),
        (berlin(2026, 12, 2, 12, 0), False),
    ],
)
def test_the_weekend_window_starts_friday_and_ends_monday(moment: datetime, inside: bool) -> None:
    assert WEEKEND.contains(moment) is inside


def test_the_window_is_read_on_its_own_clock_whatever_the_moment_s_zone() -> None:
    # Fri 14:59 and 15:00 UTC are 15:59 and 16:00 in Berlin (CET, UTC+1).
    assert not WEEKEND.contains(datetime(2026, 11, 27, 14, 59, tzinfo=UTC))
    assert WEEKEND.contains(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    tokyo = ZoneInfo("Asia/Tokyo")
    assert WEEKEND.contains(datetime(2026, 11, 28, 0, 0, tzinfo=tokyo))


def test_the_dst_change_weekend_keeps_the_wall_clock_times() -> None:
    # Clocks go back on Sunday 25 Oct 2026, 03:00 CEST -> 02:00 CET.
    assert not WEEKEND.contains(datetime(2026, 10, 23, 13, 59, tzinfo=UTC))  # Fri 15:59 CEST
    assert WEEKEND.contains(datetime(2026, 10, 23, 14, 0, tzinfo=UTC))  # Fri 16:00 CEST
    assert WEEKEND.contains(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 02:30 CEST, first pass
    assert WEEKEND.contains(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET, second pass
    # Mon 06:30 UTC is 07:30 CET: still frozen (a fixed +02:00 offset would say 08:30).
    assert WEEKEND.contains(datetime(2026, 10, 26, 6, 30, tzinfo=UTC))
    assert WEEKEND.contains(datetime(2026, 10, 26, 6, 59, tzinfo=UTC))  # Mon 07:59 CET
    assert not WEEKEND.contains(datetime(2026, 10, 26, 7, 0, tzinfo=UTC))  # Mon 08:00 CET


def test_the_spring_dst_weekend_too() -> None:
    # Clocks go forward on Sunday 29 Mar 2026, 02:00 CET -> 03:00 CEST.
    assert WEEKEND.contains(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    assert WEEKEND.contains(datetime(2026, 3, 30, 5, 59, tzinfo=UTC))  # Mon 07:59 CEST
    assert not WEEKEND.contains(datetime(2026, 3, 30, 6, 0, tzinfo=UTC))  # Mon 08:00 CEST


def test_a_window_ends_at_the_wall_clock_time_after_a_dst_change() -> None:
    ends = WEEKEND.ends_at(datetime(2026, 10, 23, 15, 0, tzinfo=UTC))

    assert ends.astimezone(UTC) == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    assert describe_end(ends) == "Mon 26 Oct 2026 08:00 CET"


def test_a_window_ends_monday_when_asked_on_sunday() -> None:
    ends = WEEKEND.ends_at(berlin(2026, 11, 29, 10, 0))

    assert ends == berlin(2026, 11, 30, 8, 0)


NEW_YEAR = window("2026-12-24 18:00", "2027-01-02 08:00")


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (berlin(2026, 12, 24, 17, 59), False),
        (berlin(2026, 12, 24, 18, 0), True),
        (berlin(2026, 12, 31, 23, 59), True),
        (berlin(2027, 1, 1, 0, 0), True),
        (berlin(2027, 1, 2, 7, 59), True),
        (berlin(2027, 1, 2, 8, 0), False),
        # A year later the dates do not come round again.
        (berlin(2027, 12, 31, 23, 0), False),
    ],
)
def test_a_dated_window_across_new_year(moment: datetime, inside: bool) -> None:
    assert NEW_YEAR.contains(moment) is inside


def test_a_dated_window_ends_at_its_date() -> None:
    assert NEW_YEAR.ends_at(berlin(2026, 12, 31, 12)) == berlin(2027, 1, 2, 8)


NIGHTS = window("22:00", "06:00", "America/New_York")


@pytest.mark.parametrize(
    ("hour", "minute", "inside"),
    [(21, 59, False), (22, 0, True), (23, 30, True), (0, 0, True), (5, 59, True), (6, 0, False)],
)
def test_a_daily_window_across_midnight(hour: int, minute: int, inside: bool) -> None:
    moment = datetime(2026, 7, 14, hour, minute, tzinfo=ZoneInfo("America/New_York"))

    assert NIGHTS.contains(moment) is inside


def test_a_window_inside_one_day_does_not_wrap() -> None:
    lunch = window("Wed 12:00", "Wed 13:00", "UTC")

    assert lunch.contains(datetime(2026, 11, 25, 12, 30, tzinfo=UTC))
    assert not lunch.contains(datetime(2026, 11, 26, 12, 30, tzinfo=UTC))


def test_edges_read_days_in_any_spelling() -> None:
    assert parse_edge("Friday 16:00") == parse_edge("fri 16:00")
    assert parse_edge("16:00").kind is EdgeKind.DAILY
    assert parse_edge("2026-12-24 18:00").kind is EdgeKind.DATED


def test_ends_of_different_kinds_are_refused_with_how_to_write_them() -> None:
    with pytest.raises(WindowError, match="mixes weekday and time of day"):
        window("Fri 16:00", "08:00")


def test_a_dated_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(WindowError, match="ends before it starts"):
        window("2027-01-02 08:00", "2026-12-24 18:00")


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_inside_the_weekend_window_its_end_is_ahead_and_within_three_days(
    naive: datetime,
) -> None:
    moment = naive.replace(tzinfo=UTC)
    if WEEKEND.contains(moment):
        ends = WEEKEND.ends_at(moment)
        assert moment < ends <= moment + timedelta(days=3)
        assert not WEEKEND.contains(ends)
        assert ends.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 08:00"
