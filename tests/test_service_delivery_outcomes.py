"""The webhook counter's outcomes are the answers the request gives (a 500 too), as documented."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from guard.observability.metrics import DELIVERY_OUTCOMES
from guard.settings import Settings
from tests.service_support import (
    Apps,
    RecordingQueue,
    encode,
    fixture_json,
    refuse_deliveries,
    signed_headers,
)
from tests.test_service_health import counter_value

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
COUNTER = "deploy_guard_webhook_deliveries_total"


def documented_outcomes() -> set[str]:
    row = next(
        line for line in OPERATIONS.read_text().splitlines() if line.startswith(f"| `{COUNTER}`")
    )
    listed = re.search(r"`outcome` is one of ([a-z_, ]+)", row)
    assert listed is not None, row
    return {name.strip() for name in listed.group(1).split(",")}


def test_the_documented_outcomes_are_the_counted_ones_and_none_retired() -> None:
    assert documented_outcomes() == set(DELIVERY_OUTCOMES)
    # The request no longer answers "recorded" (a queued delivery is 202 "accepted").
    assert "recorded" not in DELIVERY_OUTCOMES


def test_a_fault_while_recording_is_a_500_counted_as_error(
    settings: Settings, make_app: Apps
) -> None:
    refuse_deliveries(settings.database_url)
    client = make_app(settings, queue=RecordingQueue()).test_client()
    labels = {"event": "deployment_status", "outcome": "error"}
    before = counter_value(client.get("/metrics").get_data(as_text=True), COUNTER, labels)
    body = encode(fixture_json("deployment_status.created.0.json"))

    response = client.post(
        "/webhook", data=body, headers=signed_headers("deployment_status", str(uuid.uuid4()), body)
    )

    assert response.status_code == 500
    assert response.get_json()["status"] == "error"
    after = counter_value(client.get("/metrics").get_data(as_text=True), COUNTER, labels)
    assert after == before + 1
