"""The store's engine, column types, leases, locks and timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from guard.jobs import records
from guard.outcomes import Phase, ProbeResult, ProbeStatus, Severity, VerdictKind
from guard.store import (
    ProbeResultRow,
    TimelineEvent,
    Verification,
    VerificationState,
    add_timeline_event,
    claim_lease,
    deployment_timeline,
    lock_environment,
    make_engine,
    make_session_factory,
    record_deployment,
    release_lease,
    upgrade,
)
from guard.store.engine import SQLITE_BUSY_TIMEOUT_MS
from guard.store.models import EVIDENCE_LIMIT_BYTES, truncate_utf8

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'guard.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    database = make_engine(url)
    yield database
    database.dispose()


def new_session(engine: Engine) -> Session:
    return make_session_factory(engine)()


def verification(engine: Engine, github_id: int = 1) -> tuple[int, int]:
    """A deployment and its first verification: (deployment id, verification id)."""
    with new_session(engine) as session:
        row, _ = record_deployment(
            session,
            repository="octo-org/shop",
            github_id=github_id,
            environment="production",
            sha="a" * 40,
            ref="main",
            created_at=NOON,
        )
        check = Verification(deployment_id=row.id, environment="production")
        session.add(check)
        session.commit()
        return row.id, check.id


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == (
                SQLITE_BUSY_TIMEOUT_MS
            )
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    engine = make_engine("postgresql://guard@127.0.0.1:5432/guard")

    assert engine.dialect.name == "postgresql"
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "writing"])
def test_on_sqlite_only_writing_sessions_take_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    # A short busy timeout: a writer blocked by the open session fails fast instead of waiting.
    monkeypatch.setattr("guard.store.engine.SQLITE_BUSY_TIMEOUT_MS", 50)
    url = f"sqlite:///{tmp_path / 'guard.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine, read_only=read_only)() as reader:
            reader.scalar(sa.select(sa.func.count()).select_from(Verification))
            # The session's transaction is still open while another one writes.
            if read_only:
                verification(engine)
            else:
                with pytest.raises(OperationalError, match="database is locked"):
                    verification(engine)
    finally:
        engine.dispose()


def test_timestamps_come_back_aware_and_in_utc(engine: Engine) -> None:
    deployment_id, _ = verification(engine)
    in_paris = datetime(2026, 11, 22, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    with new_session(engine) as session:
        add_timeline_event(
            session,
            "smoke_started",
            "Smoke checks started.",
            deployment_id=deployment_id,
            at=in_paris,
        )
        session.commit()

    with new_session(engine) as session:
        stored = session.scalars(sa.select(TimelineEvent.at)).one()

    assert stored == in_paris
    assert stored.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    deployment_id, _ = verification(engine)
    with new_session(engine) as session:
        session.add(
            TimelineEvent(
                deployment_id=deployment_id, kind="k", message="m", at=datetime(2026, 1, 1)
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_enums_are_stored_as_their_values(engine: Engine) -> None:
    _, verification_id = verification(engine)
    with new_session(engine) as session:
        row = session.get_one(Verification, verification_id)
        row.state = VerificationState.FINISHED
        row.verdict = VerdictKind.FAIL
        row.severity = Severity.P0
        row.reasons = [{"subject": "home page", "message": "HTTP 503"}]
        session.commit()

    with engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT state, verdict, severity FROM verifications")
        ).one()
    with new_session(engine) as session:
        loaded = session.get_one(Verification, verification_id)

    assert tuple(raw) == ("finished", "fail", "P0")
    assert loaded.state is VerificationState.FINISHED
    assert loaded.severity is Severity.P0
    assert loaded.reasons == [{"subject": "home page", "message": "HTTP 503"}]


def test_probe_results_round_trip_and_evidence_is_bounded(engine: Engine) -> None:
    _, verification_id = verification(engine)
    result = ProbeResult(
        name="home page",
        phase=Phase.WATCH,
        status=ProbeStatus.FAIL,
        at=61.5,
        round=3,
        latency_s=0.12,
        value=None,
        unreachable=False,
        summary="HTTP 503 in 120 ms",
        detail="GET https://shop.example.com/ answered 503; expected 2xx.",
        status_code=503,
        evidence="é" * EVIDENCE_LIMIT_BYTES,
    )
    with new_session(engine) as session:
        session.add(ProbeResultRow.from_result(verification_id, result))
        session.commit()

    with new_session(engine) as session:
        loaded = session.scalars(sa.select(ProbeResultRow)).one().to_result()

    # Two bytes a character: half of it fits, never half a character.
    assert len(loaded.evidence.encode("utf-8")) == EVIDENCE_LIMIT_BYTES
    assert loaded.evidence == "é" * (EVIDENCE_LIMIT_BYTES // 2)
    assert loaded == ProbeResult(**{**result.__dict__, "evidence": loaded.evidence})
    # The workers' read of the same rows (plain rows, not ORM objects) gives the same result.
    with new_session(engine) as session:
        assert records.stored_results(session, verification_id) == [loaded]


def test_a_lease_is_held_until_released_or_expired(engine: Engine) -> None:
    _, verification_id = verification(engine)
    minute = timedelta(minutes=1)
    with new_session(engine) as session:
        assert claim_lease(session, verification_id, "worker-a", ttl=minute, now=NOON)
        assert not claim_lease(session, verification_id, "worker-b", ttl=minute, now=NOON)
        # The holder renews; after expiry anyone may take over.
        assert claim_lease(session, verification_id, "worker-a", ttl=minute, now=NOON + minute / 2)
        assert not claim_lease(session, verification_id, "worker-b", ttl=minute, now=NOON + minute)
        assert claim_lease(session, verification_id, "worker-b", ttl=minute, now=NOON + 2 * minute)
        assert not release_lease(session, verification_id, "worker-a")
        assert release_lease(session, verification_id, "worker-b")
        assert claim_lease(session, verification_id, "worker-a", ttl=minute, now=NOON + 2 * minute)
        session.commit()

    with new_session(engine) as session:
        stored = session.get_one(Verification, verification_id)
        assert stored.lease_owner == "worker-a"
        assert stored.lease_expires_at == NOON + 3 * minute


def test_the_timeline_gathers_a_deployment_and_its_verifications(engine: Engine) -> None:
    deployment_id, verification_id = verification(engine)
    _, other_verification = verification(engine, github_id=2)
    with new_session(engine) as session:
        add_timeline_event(
            session,
            "verdict",
            "FAIL (P1).",
            verification_id=verification_id,
            at=NOON + timedelta(minutes=10),
        )
        add_timeline_event(
            session, "deployed", "Deployment 1 succeeded.", deployment_id=deployment_id, at=NOON
        )
        add_timeline_event(
            session,
            "smoke",
            "Smoke checks passed.",
            verification_id=verification_id,
            at=NOON + timedelta(minutes=1),
        )
        add_timeline_event(
            session, "other", "Another deployment.", verification_id=other_verification, at=NOON
        )
        session.commit()

    with new_session(engine) as session:
        kinds = [event.kind for event in deployment_timeline(session, deployment_id)]

    assert kinds == ["deployed", "smoke", "verdict"]


def test_a_timeline_event_needs_a_subject(engine: Engine) -> None:
    with new_session(engine) as session:
        with pytest.raises(ValueError, match="belongs to a deployment or a verification"):
            add_timeline_event(session, "orphan", "No subject.")
        # The database refuses it too, whoever writes the row.
        session.add(TimelineEvent(kind="orphan", message="No subject."))
        with pytest.raises(IntegrityError):
            session.flush()


def test_deleting_a_deployment_removes_what_belongs_to_it(engine: Engine) -> None:
    deployment_id, verification_id = verification(engine)
    with new_session(engine) as session:
        session.add(
            ProbeResultRow(
                verification_id=verification_id,
                name="p",
                phase=Phase.SMOKE,
                status=ProbeStatus.PASS,
                at=0.0,
            )
        )
        add_timeline_event(session, "k", "m", verification_id=verification_id)
        session.commit()
        session.execute(sa.text("DELETE FROM deployments WHERE id = :id"), {"id": deployment_id})
        session.commit()

    with engine.connect() as connection:
        for table in ("verifications", "probe_results", "timeline_events"):
            assert connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


@pytest.mark.postgres
def test_the_environment_lock_is_held_until_the_transaction_ends(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with new_session(engine) as holder, new_session(engine) as other:
            assert lock_environment(holder, "octo-org/shop", "production")
            assert not lock_environment(other, "octo-org/shop", "production", wait=False)
            assert lock_environment(other, "octo-org/shop", "staging", wait=False)
            holder.commit()
            assert lock_environment(other, "octo-org/shop", "production", wait=False)
    finally:
        engine.dispose()


def test_on_sqlite_the_write_lock_already_serialises_remedies(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'guard.db'}")
    try:
        with new_session(engine) as session:
            assert lock_environment(session, "octo-org/shop", "production", wait=False)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("abc", 3, "abc"), ("abcd", 3, "abc"), ("aé", 2, "a"), ("aé", 3, "aé"), ("", 0, "")],
)
def test_truncation_counts_bytes_and_keeps_characters_whole(
    text: str, limit: int, expected: str
) -> None:
    assert truncate_utf8(text, limit) == expected
