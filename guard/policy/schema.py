"""The policy's JSON Schema, for editors and CI linters; committed beside this module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from guard.policy.models import Policy

SCHEMA_PATH = Path(__file__).with_name("deploy-guard.schema.json")
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A name, not an address: the schema is published with the package, not served from a host.
SCHEMA_ID = "urn:deploy-guard:policy:v1"
SCHEMA_TITLE = "deploy-guard policy"
SCHEMA_DESCRIPTION = (
    "The policy a repository gives deploy-guard in .github/deploy-guard.yml (version 1): "
    "smoke checks, a watched bake window, metrics, and what to do when a deployment fails."
)
OUT_OF_DATE = (
    "The policy JSON Schema is out of date: run  make schema  "
    "(or: deploy-guard schema > guard/policy/deploy-guard.schema.json)"
)


def policy_json_schema() -> dict[str, Any]:
    """The Policy model's JSON Schema by alias (the keys as a policy writes them)."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        **schema,
        "title": SCHEMA_TITLE,
        "description": SCHEMA_DESCRIPTION,
    }


def policy_json_schema_text() -> str:
    """The schema exactly as committed: indented, keys sorted, one trailing newline."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
