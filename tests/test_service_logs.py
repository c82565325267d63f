"""JSON and text log lines, bound context, the redaction of secrets, and Sentry's before_send."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.observability.logs import (
    GuardHandler,
    bound,
    configure_logging,
    current_context,
    get_logger,
)
from guard.observability.redaction import REDACTED, Redactor, secrets_from_settings
from guard.observability.sentry import init_sentry, make_before_send
from guard.settings import load_settings
from tests.service_support import (
    SECRET,
    TOKEN,
    Apps,
    RecordingQueue,
    encode,
    fixture_json,
    run_queued,
    service_settings,
    signed_headers,
    sqlite_url,
)

PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----\n"
)
POLICY_SECRET = "status-page-token-42"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Route the root logger through the guard's handler into a buffer, then put things back."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    redactor = Redactor([SECRET, TOKEN, PRIVATE_KEY.strip(), POLICY_SECRET])
    configure_logging("json", redactor, stream=stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_event_its_fields_and_the_bound_context(
    captured: io.StringIO,
) -> None:
    log = get_logger("guard.test").bind(event_source="tests")
    with bound(delivery="d-1", installation=7, repository="o/r"):
        with bound(deployment=42, environment="production"):
            log.info("verification.queued", environment_url="https://x.example")
        log.warning("webhook.after")
    first, second = lines(captured)
    assert first["event"] == "verification.queued"
    assert first["level"] == "info"
    assert first["logger"] == "guard.test"
    assert str(first["timestamp"]).endswith("Z")
    assert {key: first[key] for key in ("delivery", "installation", "repository")} == {
        "delivery": "d-1",
        "installation": 7,
        "repository": "o/r",
    }
    assert (first["deployment"], first["environment"]) == (42, "production")
    assert first["environment_url"] == "https://x.example"
    assert first["event_source"] == "tests"
    # The inner block ended: its context is gone, the outer one stays.
    assert "deployment" not in second
    assert second["delivery"] == "d-1"
    assert len(captured.getvalue().splitlines()) == 2


def test_a_field_cannot_hide_which_event_a_line_is(captured: io.StringIO) -> None:
    get_logger("guard.test").info("webhook.accepted", level="spoofed", timestamp="never")
    [line] = lines(captured)
    assert (line["event"], line["level"]) == ("webhook.accepted", "info")
    assert line["timestamp"] != "never"


def test_context_stays_in_its_own_thread(captured: io.StringIO) -> None:
    seen: list[object] = []
    with bound(delivery="main-thread"):
        worker = threading.Thread(target=lambda: seen.append(dict(current_context())))
        worker.start()
        worker.join()
    assert seen == [{}]
    assert current_context() == {}


def test_other_libraries_lines_are_json_too(captured: io.StringIO) -> None:
    logging.getLogger("huey.consumer").info("Huey consumer started with %d threads", 2)
    [line] = lines(captured)
    assert line["event"] == "Huey consumer started with 2 threads"


def test_text_format_is_one_readable_line(captured: io.StringIO) -> None:
    stream = io.StringIO()
    configure_logging("text", Redactor(), stream=stream)
    with bound(delivery="d-2", repository="o/r"):
        get_logger("guard.test").info("webhook.accepted", status=202, reason="queued it")
    [line] = stream.getvalue().splitlines()
    assert line.endswith(
        'INFO    webhook.accepted delivery=d-2 repository=o/r status=202 reason="queued it"'
    )
    assert [type(h) for h in logging.getLogger().handlers].count(GuardHandler) == 1


def test_secrets_are_removed_from_every_part_of_a_record(captured: io.StringIO) -> None:
    log = get_logger("guard.test")
    with bound(repository=f"o/r?token={TOKEN}"):
        log.info(
            f"secret {SECRET} in the event",
            detail=f"key {PRIVATE_KEY}",
            nested={"t": [POLICY_SECRET]},
        )
    logging.getLogger("lib").warning("args: %s and %s", SECRET, TOKEN)
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("webhook.handler_failed")
    text = captured.getvalue()
    for secret in (
        SECRET,
        TOKEN,
        POLICY_SECRET,
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    ):
        assert secret not in text
    assert text.count(REDACTED) >= 7
    failure = lines(captured)[-1]
    assert "RuntimeError: failed with [redacted]" in str(failure["exception"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token ghs_16C7e42F292c6912E7710c838347Ae178B4a here", "token [redacted] here"),
        (
            "new ghs_123456_eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl form",
            "new [redacted] form",
        ),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "pat [redacted]"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJl", "jwt [redacted]"),
        (
            'headers {"Authorization": "Bearer abc.def"}',
            'headers {"Authorization": "Bearer [redacted]"}',
        ),
        ("authorization: token 0123456789", "authorization: token [redacted]"),
        ("postgresql://guard:hunter2@db/guard", "postgresql://guard:***@db/guard"),
        ("key -----BEGIN PRIVATE KEY-----\nabc\n", "key [redacted]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", "[redacted]"),
        ("AUTHORIZATION=basic dXNlcjpwYXNz", "AUTHORIZATION=basic [redacted]"),
        ("redis://:queue-pw@redis:6379/0", "redis://:***@redis:6379/0"),
        ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "[redacted]"),
        # Text with none of the shapes is looked at once and given back as it was.
        ("nothing secret here", "nothing secret here"),
        ("https://github.com/o/r/pull/1 eyJ-less", "https://github.com/o/r/pull/1 eyJ-less"),
    ],
)
def test_credential_shapes_are_redacted_without_being_known(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_very_short_values_are_not_searched_for() -> None:
    assert Redactor(["ab"]).text("tab stops") == "tab stops"
    assert Redactor(["abcd"]).text("xabcdx") == f"x{REDACTED}x"


def test_the_secrets_come_from_the_settings_and_guard_secret_variables(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(PRIVATE_KEY)
    environ = {
        "GUARD_WEBHOOK_SECRET": SECRET,
        "GUARD_GITHUB_APP_ID": "12345",
        "GUARD_GITHUB_PRIVATE_KEY_FILE": str(key_file),
        "GUARD_DATABASE_URL": "postgresql://guard:db-password-1@db/guard",
        "GUARD_QUEUE_URL": "redis://:queue-password-2@redis:6379/0",
        "GUARD_SECRET_STATUS_TOKEN": POLICY_SECRET,
        "SENTRY_DSN": "https://public-key-3@sentry.example/1",
    }
    found = secrets_from_settings(load_settings(environ), environ)
    for value in (SECRET, "db-password-1", "queue-password-2", POLICY_SECRET, PRIVATE_KEY.strip()):
        assert value in found
    assert "https://public-key-3@sentry.example/1" in found
    # Each line of the key alone too, should one ever be logged by itself.
    assert "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK" in found


def test_sentry_before_send_drops_bodies_and_redacts_every_string() -> None:
    before_send = make_before_send(Redactor([SECRET, TOKEN]))
    event = {
        "request": {
            "url": "https://guard.example/webhook",
            "data": '{"repository": "private stuff"}',
            "cookies": {"session": "abc"},
            "headers": {
                "X-Hub-Signature-256": "sha256=0123",
                "Authorization": f"token {TOKEN}",
                "X-GitHub-Event": "ping",
            },
        },
        "exception": {"values": [{"type": "RuntimeError", "value": f"boom {SECRET}"}]},
        "breadcrumbs": {"values": [{"message": f"called with {TOKEN}"}]},
        "extra": {"numbers": [1, 2], "ok": True},
    }
    sent = before_send(event, {})
    assert sent is not None
    request = sent["request"]
    assert "data" not in request
    assert "cookies" not in request
    assert request["headers"] == {
        "X-Hub-Signature-256": REDACTED,
        "Authorization": REDACTED,
        "X-GitHub-Event": "ping",
    }
    assert sent["exception"]["values"][0]["value"] == "boom [redacted]"
    assert sent["breadcrumbs"]["values"][0]["message"] == "called with [redacted]"
    assert sent["extra"] == {"numbers": [1, 2], "ok": True}
    assert SECRET not in json.dumps(sent)


def test_sentry_is_not_started_without_a_dsn() -> None:
    settings = load_settings({"GUARD_WEBHOOK_SECRET": SECRET, "GUARD_GITHUB_TOKEN": TOKEN})
    assert init_sentry(settings, Redactor()) is False


SENTRY_PROBE = """
import sentry_sdk
from guard.observability.redaction import Redactor
from guard.observability.sentry import init_sentry
from guard.settings import load_settings
settings = load_settings({
    "GUARD_WEBHOOK_SECRET": "s3cret-value",
    "GUARD_GITHUB_TOKEN": "t0ken-value",
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
})
assert init_sentry(settings, Redactor(["s3cret-value"])) is True
options = sentry_sdk.get_client().options
print(options["send_default_pii"], options["max_request_body_size"])
print(options["before_send"].__name__)
"""


def test_sentry_starts_with_a_dsn_without_personal_data() -> None:
    # A process of its own: sentry_sdk.init patches logging and threading for good.
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "never", "before_send"]


def test_a_delivery_is_logged_with_its_context_and_no_secret(
    captured: io.StringIO, tmp_path: Path
) -> None:
    settings = service_settings(sqlite_url(tmp_path))
    apps = Apps()
    app = apps(settings, queue=RecordingQueue())
    payload = fixture_json("deployment_status.created.0.json")
    body = encode(payload)
    headers = signed_headers("deployment_status", "log-1", body)
    app.test_client().post("/webhook", data=body, headers=headers)
    # The handler runs in the dispatcher, with the delivery's context bound there too.
    run_queued(app)
    apps.close()
    by_event = {line["event"]: line for line in lines(captured)}
    queued = by_event["verification.queued"]
    answered = by_event["webhook.accepted"]
    for line in (queued, answered):
        assert line["delivery"] == "log-1"
        assert line["repository"] == "Codertocat/Hello-World"
        assert line["github_event"] == "deployment_status"
    assert (queued["deployment"], queued["environment"]) == (145988746, "production")
    assert answered["status"] == 202
    assert SECRET not in captured.getvalue()
    # The request's context ended with it.
    assert current_context() == {}
