"""The committed JSON Schema matches the models, and accepts and rejects what the loader does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from guard.policy.schema import (
    OUT_OF_DATE,
    SCHEMA_DIALECT,
    SCHEMA_ID,
    SCHEMA_PATH,
    policy_json_schema,
    policy_json_schema_text,
)

EXAMPLE = Path(__file__).parent / "fixtures" / "policies" / "example.yml"


@pytest.fixture(scope="module")
def committed_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def schema_errors(schema: dict[str, Any], document: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(error.message for error in validator.iter_errors(document))


def test_the_committed_schema_is_up_to_date() -> None:
    if SCHEMA_PATH.read_text(encoding="utf-8") != policy_json_schema_text():
        pytest.fail(OUT_OF_DATE)


def test_the_out_of_date_message_names_the_command() -> None:
    assert OUT_OF_DATE == (
        "The policy JSON Schema is out of date: run  make schema  "
        "(or: deploy-guard schema > guard/policy/deploy-guard.schema.json)"
    )


def test_the_schema_text_is_pretty_sorted_json_with_a_trailing_newline() -> None:
    text = policy_json_schema_text()
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_the_schema_says_what_it_is(committed_schema: dict[str, Any]) -> None:
    assert committed_schema["$schema"] == SCHEMA_DIALECT
    assert committed_schema["$id"] == SCHEMA_ID
    assert committed_schema["title"] == "deploy-guard policy"
    assert ".github/deploy-guard.yml" in committed_schema["description"]
    jsonschema.Draft202012Validator.check_schema(committed_schema)
    assert policy_json_schema() == committed_schema


def test_the_schema_uses_the_keys_a_policy_writes(committed_schema: dict[str, Any]) -> None:
    definitions = committed_schema["$defs"]
    assert "json" in definitions["Expectation"]["properties"]
    assert "json_values" not in definitions["Expectation"]["properties"]
    assert "from" in definitions["FreezeWindow"]["properties"]
    assert definitions["Watch"]["properties"]["interval"]["default"] == "15s"


def test_the_example_policy_is_valid_against_the_committed_schema(
    committed_schema: dict[str, Any],
) -> None:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert schema_errors(committed_schema, document) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["environments"]["production"]["watch"].update(intervall="15s"), "intervall"),
        (lambda p: p.update(version=2), "1 was expected"),
        (lambda p: p["environments"]["production"]["watch"].update(interval="fast"), "fast"),
        (lambda p: p["environments"]["staging"]["on_failure"].update(action="undo"), "undo"),
        (lambda p: p.update(environments={}), "should be non-empty"),
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(
    committed_schema: dict[str, Any], change: Any, expected: str
) -> None:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    change(document)
    errors = schema_errors(committed_schema, document)
    assert any(expected in error for error in errors), errors
