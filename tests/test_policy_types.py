"""The friendly policy value types parse what people write and say clearly what they reject."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard.policy.quoting import MAX_QUOTED_CHARS, describe_value, quote_value
from guard.policy.types import (
    Comparison,
    StatusSpec,
    format_duration,
    format_percentage,
    parse_comparison,
    parse_duration,
    parse_percentage,
    parse_status_spec,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("15s", 15.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        ("1m30s250ms", 90.25),
        (" 15s ", 15.0),
        (15, 15.0),
        (0.25, 0.25),
    ],
)
def test_durations_people_write(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", '"fast" is not a duration (examples: 15s, 2m)'),
        ("15", '"15" is not a duration (examples: 15s, 2m)'),
        ("15 seconds", '"15 seconds" is not a duration (examples: 15s, 2m)'),
        ("1h30", '"1h30" is not a duration (examples: 15s, 2m)'),
        ("-5s", '"-5s" is not a duration (examples: 15s, 2m)'),
        ("", '"" is not a duration (examples: 15s, 2m)'),
        ("0s", '"0s" is not a positive duration (examples: 15s, 2m)'),
        (0, "0 is not a positive duration (examples: 15s, 2m)"),
        (-1, "-1 is not a positive duration (examples: 15s, 2m)"),
        (True, "true is not a duration (examples: 15s, 2m)"),
        (None, "null is not a duration (examples: 15s, 2m)"),
        (math.inf, "inf is not a duration (examples: 15s, 2m)"),
        (math.nan, "nan is not a duration (examples: 15s, 2m)"),
        ("9" * 400 + "d", '"' + "9" * 79 + '…" is not a duration (examples: 15s, 2m)'),
        ([15], "[15] is not a duration (examples: 15s, 2m)"),
    ],
)
def test_bad_durations_say_what_was_written(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="duration") as raised:
        parse_duration(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "500ms"),
        (15.0, "15s"),
        (90.0, "1m30s"),
        (90.5, "1m30.5s"),
        (1.5, "1.5s"),
        (5400.0, "1h30m"),
        (3600.0, "1h"),
        (60.25, "1m250ms"),
        (0.0005, "0.0005s"),
        (1e6 + 0.5, "277h46m40.5s"),
    ],
)
def test_format_duration_writes_the_friendly_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=1e-9, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_format_then_parse_gives_back_the_same_seconds(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000), st.sampled_from(["ms", "s", "m", "h"])
        ),
        min_size=1,
        max_size=4,
    ).filter(lambda parts: any(amount for amount, _ in parts))
)
def test_any_written_duration_survives_a_format_round_trip(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{amount}{unit}" for amount, unit in parts)
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == seconds
    # Formatting is canonical: formatting what was read from the canonical text changes nothing.
    assert format_duration(parse_duration(format_duration(seconds))) == format_duration(seconds)


@pytest.mark.parametrize(
    ("value", "fraction"),
    [("5%", 0.05), ("0.5%", 0.005), (" 100% ", 1.0), ("0%", 0.0), (0.05, 0.05), (1, 1.0)],
)
def test_percentages(value: object, fraction: float) -> None:
    assert parse_percentage(value) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("five%", '"five%" is not a percentage (examples: 5%, 0.5%)'),
        ("5", '"5" is not a percentage (examples: 5%, 0.5%)'),
        (True, "true is not a percentage (examples: 5%, 0.5%)"),
        ("150%", '"150%" is not a percentage between 0% and 100%'),
        ("-1%", '"-1%" is not a percentage between 0% and 100%'),
        (5, "5 is not a percentage between 0% and 100%"),
        ("nan%", '"nan%" is not a percentage between 0% and 100%'),
    ],
)
def test_bad_percentages(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="percentage") as raised:
        parse_percentage(value)
    assert str(raised.value) == message


def test_percentages_format_back() -> None:
    assert format_percentage(parse_percentage("5%")) == "5%"
    assert format_percentage(parse_percentage("0.5%")) == "0.5%"


@pytest.mark.parametrize(
    ("value", "codes", "classes"),
    [
        (200, {200}, set()),
        ([200, 201], {200, 201}, set()),
        ("2xx", set(), {2}),
        ("2XX", set(), {2}),
        ("204", {204}, set()),
        (["2xx", 304], {304}, {2}),
    ],
)
def test_status_specs(value: object, codes: set[int], classes: set[int]) -> None:
    assert parse_status_spec(value) == StatusSpec(frozenset(codes), frozenset(classes))


def test_status_specs_match_and_describe() -> None:
    spec = parse_status_spec(["2xx", 304])
    assert spec.matches(204)
    assert spec.matches(304)
    assert not spec.matches(301)
    assert not spec.matches(500)
    assert spec.describe() == "one of 304, 2xx"
    assert parse_status_spec(200).describe() == "200"
    assert spec.serialize() == [304, "2xx"]
    assert parse_status_spec("5xx").serialize() == "5xx"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (700, '700 is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        (99, '99 is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        ("6xx", '"6xx" is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        ("ok", '"ok" is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        (True, 'true is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        (200.5, '200.5 is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        ([200, [201]], '[201] is not an HTTP status (examples: 200, [200, 201], "2xx")'),
        ([], 'an empty list allows no status (examples: 200, [200, 201], "2xx")'),
    ],
)
def test_bad_status_specs(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="status") as raised:
        parse_status_spec(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("text", "op", "threshold"),
    [
        ("> 0.05", ">", 0.05),
        (">=100", ">=", 100.0),
        (" < 1 ", "<", 1.0),
        ("== 0", "==", 0.0),
        ("!= -2.5", "!=", -2.5),
        ("> 5%", ">", 0.05),
        ("<= 1e3", "<=", 1000.0),
    ],
)
def test_comparisons(text: str, op: str, threshold: float) -> None:
    assert parse_comparison(text) == Comparison(op, threshold)


def test_comparisons_hold_and_describe() -> None:
    condition = parse_comparison("> 0.05")
    assert condition.holds(0.06)
    assert not condition.holds(0.05)
    assert condition.describe() == "> 0.05"
    assert parse_comparison(">= 100").holds(100)
    assert not parse_comparison("!= 3").holds(3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.05", '"0.05" is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        ("=> 1", '"=> 1" is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        ("> abc", '"> abc" is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        ("> 1; rm", '"> 1; rm" is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        ("> 1e999", '"> 1e999" is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        (5, '5 is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
        (None, 'null is not a condition (examples: "> 0.05", ">= 100", "< 1")'),
    ],
)
def test_bad_comparisons(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="condition") as raised:
        parse_comparison(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("fast", '"fast"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("Zürich", '"Zürich"'),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (3, "3"),
        (2.5, "2.5"),
        ([1, "a"], '[1, "a"]'),
        ({"a": 1}, '{"a": 1}'),
    ],
)
def test_values_are_quoted_as_yaml_writes_them(value: object, quoted: str) -> None:
    assert quote_value(value) == quoted


def test_long_values_are_shortened() -> None:
    quoted = quote_value("x" * 500)
    assert len(quoted) == MAX_QUOTED_CHARS + 2
    assert quoted.endswith('…"')


def test_found_values_are_described() -> None:
    assert describe_value(None) == "nothing (an empty value)"
    assert describe_value([1]) == "a list"
    assert describe_value({"a": 1}) == "a mapping"
    assert describe_value("x") == '"x"'
