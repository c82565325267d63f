"""Pydantic's validation errors, reworded to say what the policy expected and how to fix it."""

from __future__ import annotations

import difflib
import enum
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from guard.policy.models import Policy
from guard.policy.quoting import describe_value, quote_value

REQUIRED = "is required"
VERSION_REQUIRED = 'is required: this guard reads version 1 (add "version: 1" at the top)'
UNSUPPORTED_VERSION = (
    '{value} is not a policy version this guard reads: it reads version 1 (write "version: 1")'
)
ENVIRONMENTS_EMPTY = "must name at least one environment (for example production)"
UNKNOWN_KEY = "is not a known key (known: {known})"
NO_KEYS_HERE = "is not a known key"
NOT_ONE_OF = "{value} is not one of: {choices}"
DID_YOU_MEAN = "; did you mean {suggestion}?"
EXPECTED = "expected {what}, got {got}"
# YAML turns unquoted 404 or yes into a number or a boolean where text was meant.
QUOTE_HINT = " (put values that look like numbers or true/false in quotes)"
MUST_NOT_BE_EMPTY = "must not be empty"
AT_LEAST_ITEMS = "needs at least {count} entries"
AT_MOST_ITEMS = "allows at most {count} entries"
BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {limit}, got {value}"),
    "greater_than": ("gt", "must be more than {limit}, got {value}"),
    "less_than_equal": ("le", "must be at most {limit}, got {value}"),
    "less_than": ("lt", "must be less than {limit}, got {value}"),
}
EXPECTED_KIND = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "float_type": "a number",
    "float_parsing": "a number",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
}
# difflib's default cutoff: close enough that the suggestion is more likely right than noise.
SUGGESTION_CUTOFF = 0.6

Loc = tuple[str | int, ...]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` was most likely meant to be, if any is close enough."""
    options = list(candidates)
    by_case = {option.lower(): option for option in options}
    if word.lower() in by_case:
        return by_case[word.lower()]
    matches = difflib.get_close_matches(word, options, n=1, cutoff=SUGGESTION_CUTOFF)
    if matches:
        return matches[0]
    # "prod" for "production", "json_values" for "json": a unique prefix either way is a
    # confident guess even where the spellings differ too much for difflib.
    lowered = word.lower()
    prefixed = [
        option
        for option in options
        if option.lower().startswith(lowered) or lowered.startswith(option.lower())
    ]
    return prefixed[0] if word and len(prefixed) == 1 else None


def _did_you_mean(word: object, candidates: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    suggestion = closest(word, candidates)
    return DID_YOU_MEAN.format(suggestion=suggestion) if suggestion else ""


def _alternatives(annotation: Any) -> list[Any]:
    """The types a value may have, with Optional, unions and Annotated taken apart."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _alternatives(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [
            alternative
            for argument in get_args(annotation)
            if argument is not type(None)
            for alternative in _alternatives(argument)
        ]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_key(model: type[BaseModel], key: str) -> Any | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info.annotation
    return None


def types_at(loc: Loc, root: type[BaseModel] = Policy) -> list[Any]:
    """The declared types of the value at `loc` under `root` (several when it is a union)."""
    candidates: list[Any] = [root]
    for part in loc:
        found: list[Any] = []
        for candidate in candidates:
            origin, arguments = get_origin(candidate), get_args(candidate)
            if _is_model(candidate) and isinstance(part, str):
                found.extend(_alternatives(_model_key(candidate, part)))
            elif origin is dict and isinstance(part, str) and len(arguments) == 2:
                found.extend(_alternatives(arguments[1]))
            elif origin is list and isinstance(part, int) and arguments:
                found.extend(_alternatives(arguments[0]))
        candidates = [candidate for candidate in found if candidate is not None]
    return candidates


def known_keys(loc: Loc) -> list[str]:
    """The keys allowed in the mapping at `loc`, as written in a policy (aliases)."""
    for candidate in types_at(loc):
        if _is_model(candidate):
            return sorted(info.alias or name for name, info in candidate.model_fields.items())
    return []


def choices(loc: Loc) -> list[str]:
    """The values a Literal or an Enum at `loc` allows, in declared order."""
    for candidate in types_at(loc):
        if get_origin(candidate) is Literal:
            return [str(option) for option in get_args(candidate)]
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return [str(member.value) for member in candidate]
    return []


def _unknown_key(loc: Loc) -> str:
    known = known_keys(loc[:-1])
    if not known:
        return NO_KEYS_HERE
    key = loc[-1]
    return UNKNOWN_KEY.format(known=", ".join(known)) + _did_you_mean(key, known)


def _not_one_of(loc: Loc, value: object) -> str:
    allowed = choices(loc)
    return NOT_ONE_OF.format(value=quote_value(value), choices=", ".join(allowed)) + _did_you_mean(
        value, allowed
    )


def _bounded(error: ErrorDetails, value: object) -> str | None:
    context = error.get("ctx", {})
    if error["type"] in ("too_short", "string_too_short"):
        count = context.get("min_length", 1)
        if error["loc"] == ("environments",):
            return ENVIRONMENTS_EMPTY
        return MUST_NOT_BE_EMPTY if count == 1 else AT_LEAST_ITEMS.format(count=count)
    if error["type"] in ("too_long", "string_too_long"):
        return AT_MOST_ITEMS.format(count=context.get("max_length"))
    if error["type"] in BOUNDS:
        limit_key, template = BOUNDS[error["type"]]
        return template.format(limit=context.get(limit_key), value=quote_value(value))
    return None


def friendly_message(error: ErrorDetails) -> str:
    """One pydantic error as a sentence about the policy value it concerns."""
    kind = error["type"]
    loc = tuple(error["loc"])
    value = error.get("input")
    if kind == "missing":
        return VERSION_REQUIRED if loc == ("version",) else REQUIRED
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in ("literal_error", "enum"):
        if loc == ("version",):
            return UNSUPPORTED_VERSION.format(value=quote_value(value))
        return _not_one_of(loc, value)
    if kind in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    if kind in EXPECTED_KIND:
        message = EXPECTED.format(what=EXPECTED_KIND[kind], got=describe_value(value))
        if kind == "string_type" and isinstance(value, int | float):
            message += QUOTE_HINT
        return message
    bounded = _bounded(error, value)
    return bounded if bounded is not None else error["msg"]
