"""PostgreSQL connections are pinged only after sitting idle, and a dropped one is replaced."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from guard.store import engine as engine_module
from guard.store import make_engine
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT

ADMIN = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"


def _pooled_backend(engine: sa.Engine) -> int:
    """Use a pooled connection once and give it back: the server's process id for it."""
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _drop(pid: int) -> None:
    """What a server restart or a firewall does to an idle connection."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_url)
    try:
        # No ping before every checkout: that round trip was 15% of a busy worker's time.
        assert engine.pool._pre_ping is False
        # Not idle long enough to be pinged: the dropped connection fails its transaction.
        monkeypatch.setattr(engine_module, "IDLE_PING_AFTER_S", 3600.0)
        _drop(_pooled_backend(engine))
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

        # Idle past the threshold: pinged on checkout, found dead, and replaced.
        monkeypatch.setattr(engine_module, "IDLE_PING_AFTER_S", 0.0)
        dropped = _pooled_backend(engine)
        _drop(dropped)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
            fresh = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert fresh != dropped
    finally:
        engine.dispose()
