"""`POST /webhook` as its own WSGI callable: the body read from the stream as WSGI servers
give it, the answers Flask would have given, a fault answered and logged, other paths to Flask."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from guard.service.errors import MAX_BODY_BYTES, SERVER_FAULT, TOO_LARGE
from guard.service.webhooks import BAD_LENGTH, CUT_SHORT, NOT_POST
from guard.settings import Settings
from guard.store import Delivery, make_engine
from tests.service_support import (
    Apps,
    RecordingQueue,
    fixture_body,
    refuse_deliveries,
    signed_headers,
)


@pytest.fixture
def app(settings: Settings, make_app: Apps) -> Flask:
    return make_app(settings, queue=RecordingQueue())


class Answer:
    """What a WSGI call answered."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: dict[str, str] = {}
        self.body: dict[str, Any] = {}

    def start_response(
        self, status: str, headers: list[tuple[str, str]], _exc: Any = None
    ) -> Callable[[bytes], object]:
        self.status = status
        self.headers = dict(headers)
        return lambda _data: None


def call(
    app: Flask, body: bytes, method: str = "POST", environ: Mapping[str, Any] | None = None
) -> Answer:
    """One request through the app's WSGI callable, as a server would make it (`environ`
    overrides what it would say)."""
    headers = signed_headers("ping", str(uuid.uuid4()), body)
    base: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/webhook",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "guard.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.pop("Content-Type"),
    }
    base.update(
        {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    )
    base.update(environ or {})
    answer = Answer()
    answer.body = json.loads(b"".join(app(base, answer.start_response)))
    return answer


def recorded(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one()
            )
    finally:
        engine.dispose()


def test_a_delivery_is_answered_as_json_with_its_length(app: Flask) -> None:
    answer = call(app, fixture_body("ping.none.0.json"))
    assert answer.status == "200 OK"
    assert answer.body["status"] == "pong"
    assert answer.headers["Content-Type"] == "application/json"
    assert int(answer.headers["Content-Length"]) == len(json.dumps(answer.body)) + 1


def test_other_methods_are_405_naming_post(app: Flask, settings: Settings) -> None:
    answer = call(app, b"", "PUT")
    assert answer.status == "405 Method Not Allowed"
    assert answer.headers["Allow"] == "POST"
    assert answer.body == {"status": "rejected", "reason": NOT_POST}
    assert recorded(settings) == 0


@pytest.mark.parametrize("length", ["12x", "-5", "\xb2", " 12"])
def test_a_content_length_that_is_not_a_number_is_400(
    app: Flask, settings: Settings, length: str
) -> None:
    answer = call(app, fixture_body("ping.none.0.json"), environ={"CONTENT_LENGTH": length})
    assert answer.status.startswith("400 ")
    assert answer.body == {"status": "rejected", "reason": BAD_LENGTH}
    assert recorded(settings) == 0


def test_a_body_cut_short_of_its_length_is_400(app: Flask, settings: Settings) -> None:
    body = fixture_body("ping.none.0.json")
    answer = call(app, body, environ={"CONTENT_LENGTH": str(len(body) + 10)})
    assert answer.status.startswith("400 ")
    assert answer.body == {"status": "rejected", "reason": CUT_SHORT}
    assert recorded(settings) == 0


class Trickle(io.RawIOBase):
    """A stream that gives at most 7 bytes a read, as a socket may."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size >= 0 else 7)


def test_a_body_arriving_in_small_reads_is_read_whole(app: Flask) -> None:
    body = fixture_body("ping.none.0.json")
    answer = call(app, body, environ={"wsgi.input": Trickle(body)})
    assert answer.body["status"] == "pong"


def test_a_body_without_length_is_read_when_the_server_says_it_ends(app: Flask) -> None:
    body = fixture_body("ping.none.0.json")
    chunked = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True, "wsgi.input": Trickle(body)}
    assert call(app, body, environ=chunked).body["status"] == "pong"
    # Without that word from the server, WSGI has no body: the signature is over other bytes.
    assert call(app, body, environ={"CONTENT_LENGTH": ""}).status.startswith("401 ")


def test_a_body_without_length_over_25_mb_is_413(app: Flask, settings: Settings) -> None:
    huge = io.BytesIO(b" " * (MAX_BODY_BYTES + 1))
    chunked = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True, "wsgi.input": huge}
    answer = call(app, b"", environ=chunked)
    assert answer.status.startswith("413 ")
    assert answer.body == {"status": "rejected", "reason": TOO_LARGE}
    assert recorded(settings) == 0


def test_a_fault_is_a_json_500_and_its_traceback_is_logged(
    app: Flask, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    refuse_deliveries(settings.database_url)
    with caplog.at_level(logging.ERROR):
        answer = call(app, fixture_body("ping.none.0.json"))
    assert answer.status == "500 Internal Server Error"
    assert answer.body == {"status": "error", "reason": SERVER_FAULT}
    [record] = [r for r in caplog.records if r.getMessage() == "webhook.error"]
    assert record.exc_info is not None
    assert "refused by the test" in str(record.exc_info[1])


def test_other_paths_go_to_flask(app: Flask) -> None:
    answer = call(app, b"", "GET", environ={"PATH_INFO": "/healthz"})
    assert answer.status == "200 OK"
    answer = call(app, b"", environ={"PATH_INFO": "/webhook/"})
    assert answer.status.startswith("404 ")
