"""Friendly policy value types: durations, percentages, HTTP status specs and comparisons."""

from __future__ import annotations

import decimal
import fractions
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, GetPydanticSchema, PlainSerializer, WithJsonSchema
from pydantic_core import core_schema

from guard.policy.quoting import quote_value

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHITESPACE = re.compile(r"\s+")
# Exact arithmetic: "1h30m250ms" must come back as exactly the float the same text would give
# from format_duration, so that a duration survives any number of load/dump round trips.
_DURATION_UNITS = {
    "ms": fractions.Fraction(1, 1000),
    "s": fractions.Fraction(1),
    "m": fractions.Fraction(60),
    "h": fractions.Fraction(3600),
    "d": fractions.Fraction(86400),
}
# Enough digits for any float's quotient by 3600 (floats reach 1.8e308).
_FORMAT_PRECISION = 400
DURATION_EXAMPLES = "examples: 15s, 2m"
NOT_A_DURATION = "{value} is not a duration ({examples})"
NOT_POSITIVE_DURATION = "{value} is not a positive duration ({examples})"


def _not_a_duration(value: object, template: str = NOT_A_DURATION) -> ValueError:
    return ValueError(template.format(value=quote_value(value), examples=DURATION_EXAMPLES))


def parse_duration(value: object) -> float:
    """`500ms`, `15s`, `10m`, `1h30m` (or a bare number of seconds) to seconds."""
    if isinstance(value, bool):
        raise _not_a_duration(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = _WHITESPACE.sub("", value)
        if not text or _DURATION_PART.sub("", text) != "":
            raise _not_a_duration(value)
        total = sum(
            (
                fractions.Fraction(amount) * _DURATION_UNITS[unit]
                for amount, unit in _DURATION_PART.findall(text)
            ),
            fractions.Fraction(0),
        )
        try:
            seconds = float(total)
        except OverflowError:
            raise _not_a_duration(value) from None
    else:
        raise _not_a_duration(value)
    if not math.isfinite(seconds):
        raise _not_a_duration(value)
    if seconds <= 0:
        raise _not_a_duration(value, NOT_POSITIVE_DURATION)
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds back to the friendly form parse_duration reads: 0.5 -> 500ms, 90.5 -> 1m30.5s."""
    if not math.isfinite(seconds) or seconds <= 0:
        # Not a duration a policy can hold; shown as is rather than raising inside a report.
        return f"{seconds:g}s"
    with decimal.localcontext(prec=_FORMAT_PRECISION):
        # repr is the shortest text that reads back as the same float: format exactly that.
        exact = decimal.Decimal(repr(float(seconds)))
        hours, rest = divmod(exact, 3600)
        minutes, rest = divmod(rest, 60)
        parts = []
        if hours:
            parts.append(f"{hours:f}h")
        if minutes:
            parts.append(f"{minutes:f}m")
        if rest:
            milliseconds = rest * 1000
            if rest < 1 and milliseconds == milliseconds.to_integral_value():
                parts.append(f"{milliseconds.normalize():f}ms")
            else:
                parts.append(f"{rest.normalize():f}s")
    return "".join(parts)


_DURATION_TEXT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$",
}

Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [_DURATION_TEXT_SCHEMA, {"type": "number", "exclusiveMinimum": 0}],
            "description": "A duration: 500ms, 15s, 10m, 1h30m (a bare number is seconds).",
            "examples": ["15s", "10m"],
        }
    ),
]

PERCENTAGE_EXAMPLES = "examples: 5%, 0.5%"
NOT_A_PERCENTAGE = "{value} is not a percentage ({examples})"
PERCENTAGE_OUT_OF_RANGE = "{value} is not a percentage between 0% and 100%"


def parse_percentage(value: object) -> float:
    """`5%` (or a fraction such as 0.05) to a fraction between 0 and 1."""
    not_a_percentage = ValueError(
        NOT_A_PERCENTAGE.format(value=quote_value(value), examples=PERCENTAGE_EXAMPLES)
    )
    if isinstance(value, bool):
        raise not_a_percentage
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            fraction = float(value.strip()[:-1]) / 100
        except ValueError:
            raise not_a_percentage from None
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise not_a_percentage
    # NaN fails this comparison too, so it never becomes a threshold.
    if not 0 <= fraction <= 1:
        raise ValueError(PERCENTAGE_OUT_OF_RANGE.format(value=quote_value(value)))
    return fraction


def format_percentage(fraction: float) -> str:
    return f"{fraction * 100:g}%"


Fraction = Annotated[
    float,
    BeforeValidator(parse_percentage),
    PlainSerializer(format_percentage, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                {"type": "number", "minimum": 0, "maximum": 1},
            ],
            "description": "A percentage: 5%, 0.5% (a bare number is a fraction: 0.05).",
            "examples": ["5%"],
        }
    ),
]


@dataclass(frozen=True)
class StatusSpec:
    """Acceptable HTTP status codes: exact codes and/or classes such as 2xx."""

    codes: frozenset[int]
    classes: frozenset[int]

    def matches(self, code: int) -> bool:
        return code in self.codes or code // 100 in self.classes

    def describe(self) -> str:
        parts = [str(c) for c in sorted(self.codes)] + [f"{c}xx" for c in sorted(self.classes)]
        return parts[0] if len(parts) == 1 else "one of " + ", ".join(parts)

    def serialize(self) -> int | str | list[int | str]:
        parts: list[int | str] = [*sorted(self.codes), *(f"{c}xx" for c in sorted(self.classes))]
        return parts[0] if len(parts) == 1 else parts


_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
STATUS_EXAMPLES = 'examples: 200, [200, 201], "2xx"'
NOT_A_STATUS = "{value} is not an HTTP status ({examples})"
EMPTY_STATUS_LIST = "an empty list allows no status ({examples})"


def _status_item(item: object, codes: set[int], classes: set[int]) -> None:
    if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
        codes.add(item)
        return
    if isinstance(item, str):
        text = item.strip()
        if text.isdigit() and 100 <= int(text) <= 599:
            codes.add(int(text))
            return
        match = _STATUS_CLASS.match(text)
        if match:
            classes.add(int(match.group(1)))
            return
    raise ValueError(NOT_A_STATUS.format(value=quote_value(item), examples=STATUS_EXAMPLES))


def parse_status_spec(value: object) -> StatusSpec:
    """`200`, `[200, 201]`, `"2xx"` (or a mix, such as `[2xx, 304]`) to a StatusSpec."""
    if isinstance(value, StatusSpec):
        return value
    codes: set[int] = set()
    classes: set[int] = set()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(EMPTY_STATUS_LIST.format(examples=STATUS_EXAMPLES))
    for item in items:
        _status_item(item, codes, classes)
    return StatusSpec(frozenset(codes), frozenset(classes))


_STATUS_ITEM_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": r"^\s*([1-5][xX][xX]|[1-5][0-9][0-9])\s*$"},
    ]
}

Status = Annotated[
    StatusSpec,
    GetPydanticSchema(
        lambda _tp, _handler: core_schema.no_info_plain_validator_function(
            parse_status_spec,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda spec: spec.serialize()
            ),
        )
    ),
    WithJsonSchema(
        {
            "anyOf": [
                *_STATUS_ITEM_SCHEMA["anyOf"],
                {"type": "array", "items": _STATUS_ITEM_SCHEMA, "minItems": 1},
            ],
            "description": 'An HTTP status, a list of them, or a class such as "2xx".',
        }
    ),
]

_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)\s*$")
COMPARISON_EXAMPLES = 'examples: "> 0.05", ">= 100", "< 1"'
NOT_A_CONDITION = "{value} is not a condition ({examples})"


@dataclass(frozen=True)
class Comparison:
    """A `fail_when` condition on a number, such as `> 0.05`; parsed, never evaluated as code."""

    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _COMPARATORS[self.op](value, self.threshold)

    def describe(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_comparison(value: object) -> Comparison:
    """`"> 0.05"`, `">= 100"`, `"< 5%"` to a Comparison; anything else is an error."""
    if isinstance(value, Comparison):
        return value
    match = _COMPARISON.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            NOT_A_CONDITION.format(value=quote_value(value), examples=COMPARISON_EXAMPLES)
        )
    op, number, percent = match.groups()
    threshold = float(number) / 100 if percent else float(number)
    if not math.isfinite(threshold):
        raise ValueError(
            NOT_A_CONDITION.format(value=quote_value(value), examples=COMPARISON_EXAMPLES)
        )
    return Comparison(op, threshold)


Condition = Annotated[
    Comparison,
    GetPydanticSchema(
        lambda _tp, _handler: core_schema.no_info_plain_validator_function(
            parse_comparison,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda c: c.describe()),
        )
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(>=|<=|==|!=|>|<)\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*%?\s*$",
            "description": 'A comparison against the metric value: "> 0.05".',
            "examples": ["> 0.05"],
        }
    ),
]
