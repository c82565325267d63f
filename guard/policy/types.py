"""Friendly policy value types: durations, percentages, status specs, comparisons, secret placeholders."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, GetPydanticSchema, PlainSerializer, WithJsonSchema
from pydantic_core import core_schema

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_EXAMPLES = "examples: 15s, 2m"


def parse_duration(value: object) -> float:
    """`500ms`, `15s`, `10m`, `1h30m` (or a bare number of seconds) to seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration ({DURATION_EXAMPLES})")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not text or _DURATION_PART.sub("", text) != "":
            raise ValueError(f"{value!r} is not a duration ({DURATION_EXAMPLES})")
        seconds = sum(
            float(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART.findall(text)
        )
    else:
        raise ValueError(f"{value!r} is not a duration ({DURATION_EXAMPLES})")
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration ({DURATION_EXAMPLES})")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds back to the friendly form: 0.5 -> 500ms, 90 -> 1m30s."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$",
            "description": "A duration: 500ms, 15s, 10m, 1h30m.",
            "examples": ["15s", "10m"],
        }
    ),
]


def parse_percentage(value: object) -> float:
    """`5%` (or a fraction such as 0.05) to a fraction between 0 and 1."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a percentage (examples: 5%, 0.5%)")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            fraction = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage (examples: 5%, 0.5%)") from None
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise ValueError(f"{value!r} is not a percentage (examples: 5%, 0.5%)")
    if not 0 <= fraction <= 1:
        raise ValueError(f"{value!r} is not a percentage between 0% and 100%")
    return fraction


def format_percentage(fraction: float) -> str:
    return f"{fraction * 100:g}%"


Fraction = Annotated[
    float,
    BeforeValidator(parse_percentage),
    PlainSerializer(format_percentage, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d+(\.\d+)?%$",
            "description": "A percentage: 5%, 0.5%.",
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


def _status_item(item: object, codes: set[int], classes: set[int]) -> None:
    if isinstance(item, bool):
        raise ValueError(f"{item!r} is not an HTTP status ({STATUS_EXAMPLES})")
    if isinstance(item, int) and 100 <= item <= 599:
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
    raise ValueError(f"{item!r} is not an HTTP status ({STATUS_EXAMPLES})")


def parse_status_spec(value: object) -> StatusSpec:
    if isinstance(value, StatusSpec):
        return value
    codes: set[int] = set()
    classes: set[int] = set()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"an empty list allows no status ({STATUS_EXAMPLES})")
    for item in items:
        _status_item(item, codes, classes)
    return StatusSpec(frozenset(codes), frozenset(classes))


_STATUS_ITEM_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": "^[1-5][xX][xX]$"},
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
    if isinstance(value, Comparison):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a condition ({COMPARISON_EXAMPLES})")
    match = _COMPARISON.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a condition ({COMPARISON_EXAMPLES})")
    op, number, percent = match.groups()
    threshold = float(number) / 100 if percent else float(number)
    return Comparison(op, threshold)


Condition = Annotated[
    Comparison,
    GetPydanticSchema(
        lambda _tp, _handler: core_schema.no_info_plain_validator_function(
            parse_comparison,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda c: c.describe()
            ),
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
