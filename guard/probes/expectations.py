"""Judging an HTTP answer against a check's `expect`: status, body text, JSON values, latency."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonpath

from guard.policy.models import Expectation
from guard.policy.types import format_duration
from guard.probes.bodies import Body
from guard.probes.wording import format_value, shorten

LIMIT_WORDS = "1 MiB"


@dataclass(frozen=True)
class Verdict:
    """What failed, as sentence parts that follow "<request> answered HTTP 200 in 12 ms; "."""

    problems: list[str] = field(default_factory=list)
    # A few words for the summary about the first problem beyond the status ("not JSON").
    tag: str = ""


def judge(expect: Expectation, code: int, body: Body, latency_s: float) -> Verdict:
    """Every expectation the answer misses; a wrong status alone is reported, being the cause."""
    if not expect.status.matches(code):
        return Verdict([f"expected {expect.status.describe()}"])
    problems: list[str] = []
    tags: list[str] = []
    if expect.body_contains is not None and expect.body_contains not in body.text:
        where = f"the first {LIMIT_WORDS} of the body" if body.truncated else "the body"
        problems.append(
            f"{where} does not contain {format_value(expect.body_contains)}; "
            "expected it to contain that text"
        )
        tags.append("text missing")
    if expect.json_values:
        json_problems, json_tag = _judge_json(expect.json_values, body)
        problems.extend(json_problems)
        if json_problems:
            tags.append(json_tag)
    if expect.max_latency is not None and latency_s > expect.max_latency:
        problems.append(f"expected an answer within {format_duration(expect.max_latency)}")
        tags.append("too slow")
    return Verdict(problems, tags[0] if tags else "")


def _judge_json(expected: dict[str, Any], body: Body) -> tuple[list[str], str]:
    try:
        document = json.loads(body.data)
    except ValueError:
        keys = ", ".join(expected)
        if body.truncated:
            return [
                f"the body is larger than {LIMIT_WORDS}, the most read for JSON checks; "
                f"expected JSON with {keys}"
            ], "body too large"
        return [f"the body is not JSON; expected JSON with {keys}"], "not JSON"
    problems = [
        problem
        for key, value in expected.items()
        if (problem := json_value_problem(document, key, value)) is not None
    ]
    return problems, "JSON mismatch"


def json_value_problem(document: Any, key: str, expected: Any) -> str | None:
    """Why `document` does not hold `expected` at `key` (JSONPath or plain key), or None."""
    label = key if key.startswith("$") else f"the key {format_value(key)}"
    try:
        found = find_values(document, key)
    except jsonpath.JSONPathError as error:
        reason = str(error).splitlines()[0]
        return f"{key} is not a JSONPath that can be read ({reason}); fix the key in the policy"
    if not found:
        return f"{label} was not in the JSON body; expected {format_value(expected)}"
    if all(same_json(value, expected) for value in found):
        return None
    if len(found) == 1:
        return f"{label} was {shorten(format_value(found[0]))}; expected {format_value(expected)}"
    return (
        f"{label} was {shorten(format_value(found))} ({len(found)} matches); "
        f"expected {format_value(expected)} in every match"
    )


def find_values(document: Any, key: str) -> list[Any]:
    """The values at `key`: a JSONPath when it starts with $, else a top-level key."""
    if not key.startswith("$"):
        if isinstance(document, dict) and key in document:
            return [document[key]]
        return []
    if not isinstance(document, dict | list):
        # python-jsonpath would parse a bare string as a JSON document of its own.
        return [document] if key.strip() == "$" else []
    return list(jsonpath.findall(key, document))


def same_json(found: Any, expected: Any) -> bool:
    """Equality as JSON means it: true is not 1, and 1 equals 1.0."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found is expected
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(
            same_json(a, b) for a, b in zip(found, expected, strict=True)
        )
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(
            same_json(found[k], expected[k]) for k in found
        )
    return bool(found == expected)
