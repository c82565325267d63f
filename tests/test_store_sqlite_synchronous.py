"""GUARD_SQLITE_SYNCHRONOUS and GUARD_INTAKE_SYNCHRONOUS: checked at start-up, and really
applied to the guard's connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from guard.jobs.deliveries import DeliveryDispatcher
from guard.sandbox.auth import generate_app_key
from guard.service.app import close_app, create_app
from guard.service.intake import _group_commit
from guard.service.state import EXTENSION_KEY, ServiceState
from guard.settings import SettingsError, load_settings
from guard.store import make_engine
from tests.service_support import (
    TOKEN,
    RecordingQueue,
    fixture_body,
    service_settings,
    signed_headers,
    sqlite_url,
)

# What `PRAGMA synchronous` reads back: SQLite's numbers for the two modes.
PRAGMA_VALUES = {"full": 2, "normal": 1}


def _synchronous(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_the_default_is_full() -> None:
    assert load_settings({}, require_github=False).sqlite_synchronous == "full"


@pytest.mark.parametrize(
    ("given", "mode"), [("normal", "normal"), (" NORMAL ", "normal"), ("Full", "full")]
)
def test_the_modes_are_read_in_any_case(given: str, mode: str) -> None:
    settings = load_settings({"GUARD_SQLITE_SYNCHRONOUS": given}, require_github=False)

    assert settings.sqlite_synchronous == mode


@pytest.mark.parametrize("given", ["off", "extra", "1"])
def test_a_bad_mode_stops_start_up_with_one_line(given: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"GUARD_SQLITE_SYNCHRONOUS": given}, require_github=False)

    assert str(caught.value) == f'GUARD_SQLITE_SYNCHRONOUS: "{given}" is not one of full, normal'


@pytest.mark.parametrize("mode", ["full", "normal"])
def test_an_engine_connects_with_the_chosen_mode(tmp_path: Path, mode: str) -> None:
    engine = make_engine(sqlite_url(tmp_path), sqlite_synchronous=mode)  # type: ignore[arg-type]
    try:
        assert _synchronous(engine) == PRAGMA_VALUES[mode]
        with engine.connect() as connection:
            # NORMAL is only crash-safe in WAL mode: the two always go together.
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        engine.dispose()


def test_an_engine_defaults_to_full(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    try:
        assert _synchronous(engine) == PRAGMA_VALUES["full"]
    finally:
        engine.dispose()


def test_a_mode_outside_the_two_is_refused_before_any_sql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full or normal"):
        make_engine(sqlite_url(tmp_path), sqlite_synchronous="off; DROP TABLE x")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["full", "normal"])
def test_the_service_and_the_dispatcher_use_the_setting(tmp_path: Path, mode: str) -> None:
    settings = service_settings(sqlite_url(tmp_path), GUARD_SQLITE_SYNCHRONOUS=mode)
    app = create_app(settings, queue=RecordingQueue())
    dispatcher = DeliveryDispatcher.for_settings(settings, RecordingQueue())
    try:
        state = app.extensions[EXTENSION_KEY]
        assert isinstance(state, ServiceState)
        assert _synchronous(state.engine) == PRAGMA_VALUES[mode]
        # The request's INSERT runs on a raw pooled connection: it has the mode too.
        raw = state.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone() == (PRAGMA_VALUES[mode],)
        finally:
            raw.close()
        assert dispatcher._own_engine is not None
        assert _synchronous(dispatcher._own_engine) == PRAGMA_VALUES[mode]
    finally:
        dispatcher.stop()
        close_app(app)


def _app_variables() -> dict[str, str]:
    return {"GUARD_GITHUB_APP_ID": "4321", "GUARD_GITHUB_PRIVATE_KEY": generate_app_key()[0]}


@pytest.mark.parametrize(
    ("variables", "intake"),
    [
        # A GitHub App: the catch-up redelivers from GitHub's log what a power cut took.
        ({"app": "yes"}, "normal"),
        # A plain token has no delivery log to recover from: the database's own setting.
        ({"GUARD_GITHUB_TOKEN": TOKEN}, "full"),
        ({"GUARD_GITHUB_TOKEN": TOKEN, "GUARD_SQLITE_SYNCHRONOUS": "normal"}, "normal"),
        # Said outright, it wins.
        ({"app": "yes", "GUARD_INTAKE_SYNCHRONOUS": " FULL "}, "full"),
        ({"GUARD_GITHUB_TOKEN": TOKEN, "GUARD_INTAKE_SYNCHRONOUS": "normal"}, "normal"),
    ],
)
def test_the_intakes_mode_follows_where_a_lost_delivery_can_come_back_from(
    variables: dict[str, str], intake: str
) -> None:
    environ = {key: value for key, value in variables.items() if key != "app"}
    if "app" in variables:
        environ.update(_app_variables())
    settings = load_settings(environ, require_github=False)

    assert settings.intake_sqlite_synchronous == intake


def test_a_bad_intake_mode_stops_start_up_with_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"GUARD_INTAKE_SYNCHRONOUS": "off"}, require_github=False)

    assert str(caught.value) == 'GUARD_INTAKE_SYNCHRONOUS: "off" is not one of auto, full, normal'


@pytest.mark.parametrize("intake", ["full", "normal"])
def test_the_requests_commits_use_the_intakes_mode_and_the_rest_the_databases(
    tmp_path: Path, intake: str
) -> None:
    settings = service_settings(sqlite_url(tmp_path), GUARD_INTAKE_SYNCHRONOUS=intake)
    app = create_app(settings, queue=RecordingQueue())
    try:
        body = fixture_body("ping.none.0.json")
        answer = app.test_client().post(
            "/webhook", data=body, headers=signed_headers("ping", "mode", body)
        )
        assert answer.status_code == 200
        state = app.extensions[EXTENSION_KEY]
        assert isinstance(state, ServiceState)
        writer = _group_commit(state.engine)._writer
        assert writer is not None
        assert writer.execute("PRAGMA synchronous").fetchone() == (PRAGMA_VALUES[intake],)
        # Everything else (the handlers, the jobs) commits with the database's own setting.
        assert _synchronous(state.engine) == PRAGMA_VALUES["full"]
    finally:
        close_app(app)
    # The app's engine given back, the writer's connection is closed with it.
    assert _group_commit(state.engine)._writer is None
