"""schemathesis against the API through its WSGI app, with a valid OIDC token: the API answers
every generated request, valid or not, without a 5xx and as its OpenAPI document says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.api_world import api_world


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_description(tmp_path: Path, mode: GenerationMode) -> None:
    with api_world(tmp_path) as world:
        document = schemathesis.openapi.from_wsgi("/api/openapi.json", world.app)
        # The operations of this API; the run pages' routes have their own tests.
        schema = document.include(path_regex=r"^/api/(v1/verifications|openapi\.json)")
        headers = world.headers()

        # Positive and negative data for every operation; a valid token on each request.
        @given(case=schema.as_strategy(generation_mode=mode))
        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        def keeps_to_it(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers)

        keeps_to_it()
        calls = len(world.gate.sandbox.calls.all())

    # The examples reached GitHub (the sandbox), not only the body checks.
    assert calls > 0
