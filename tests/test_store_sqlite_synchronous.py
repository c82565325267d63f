"""GUARD_SQLITE_SYNCHRONOUS: checked at start-up, and really applied to the guard's connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from guard.jobs.deliveries import DeliveryDispatcher
from guard.service.app import close_app, create_app
from guard.service.state import EXTENSION_KEY, ServiceState
from guard.settings import SettingsError, load_settings
from guard.store import make_engine
from tests.service_support import RecordingQueue, service_settings, sqlite_url

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
