"""Migrations build the schema the models describe, on SQLite and PostgreSQL; `db upgrade` too."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from guard.cli import main
from guard.settings import ENVIRONMENT_VARIABLES
from guard.store import current_revision, head_revision, make_engine, upgrade
from guard.store.base import Base
from guard.store.migrate import MIGRATIONS_DIRECTORY, alembic_config

TABLES = {
    "installations",
    "deliveries",
    "deployments",
    "verifications",
    "probe_results",
    "remedies",
    "incidents",
    "incident_comments",
    "known_bad_shas",
    "freezes",
    "timeline_events",
    "service_markers",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guard.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _schema_differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_exactly_the_schema_of_the_models(empty_database_url: str) -> None:
    result = upgrade(empty_database_url)

    assert result.before is None
    assert result.after == head_revision()
    assert result.changed
    assert _tables(empty_database_url) == TABLES | {"alembic_version"}
    assert _schema_differences(empty_database_url) == []


def test_upgrading_again_changes_nothing(empty_database_url: str) -> None:
    upgrade(empty_database_url)

    again = upgrade(empty_database_url)

    assert again.before == again.after == head_revision()
    assert not again.changed


def test_downgrade_to_nothing_and_back(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
            assert current_revision(connection) is None
    finally:
        engine.dispose()

    assert _tables(empty_database_url) == {"alembic_version"}
    assert upgrade(empty_database_url).after == head_revision()
    assert _schema_differences(empty_database_url) == []


def test_the_models_differ_from_an_empty_database(tmp_path: Path) -> None:
    # The comparison above could pass vacuously; an empty database must show every table.
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(url).dispose()

    differences = _schema_differences(url)

    assert {diff[1].name for diff in differences if isinstance(diff, tuple)} >= TABLES


def test_revisions_form_one_line_and_open_with_a_docstring() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())

    assert scripts.get_heads() == [head_revision()]
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    for revision in revisions:
        assert revision.path is not None
        text = Path(revision.path).read_text(encoding="utf-8")
        assert text.startswith('"""'), revision.path
    assert (MIGRATIONS_DIRECTORY / "env.py").is_file()


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENVIRONMENT_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.usefixtures("cli_environment")
def test_db_upgrade_command_migrates_and_says_so(empty_database_url: str) -> None:
    runner = CliRunner()
    environment = {"GUARD_DATABASE_URL": empty_database_url}

    first = runner.invoke(main, ["db", "upgrade"], env=environment)
    second = runner.invoke(main, ["db", "upgrade"], env=environment)

    head = head_revision()
    assert first.exit_code == 0, first.output
    assert first.output.endswith(f"migrated from an empty database to {head} (the newest schema)\n")
    assert second.exit_code == 0, second.output
    assert second.output.endswith(f"already at {head}, the newest schema; nothing to do\n")
    assert _schema_differences(empty_database_url) == []


@pytest.mark.usefixtures("cli_environment")
def test_db_upgrade_needs_no_github_credentials_and_defaults_to_sqlite_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("sqlite:///deploy-guard.db: migrated from an empty database")
    assert (tmp_path / "deploy-guard.db").is_file()


@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        pytest.param(
            "deploy-guard.db",
            'Error: GUARD_DATABASE_URL: "deploy-guard.db" is not a database URL',
            id="not a URL",
        ),
        pytest.param(
            "mysql://guard:hunter2@db.internal/guard",
            'Error: GUARD_DATABASE_URL: "mysql://guard:***@db.internal/guard" uses mysql',
            id="unsupported database",
        ),
        pytest.param(
            "sqlite:////nonexistent-guard-dir/guard.db",
            "Error: sqlite:////nonexistent-guard-dir/guard.db: the directory "
            "/nonexistent-guard-dir does not exist",
            id="missing directory",
        ),
        pytest.param(
            "postgresql://guard:hunter2@127.0.0.1:1/guard",
            "Error: postgresql+psycopg://guard:***@127.0.0.1:1/guard: connection failed",
            id="nothing listening",
        ),
    ],
)
def test_db_upgrade_reports_a_bad_database_in_one_line(database_url: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"GUARD_DATABASE_URL": database_url})

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert "hunter2" not in result.output


def test_the_second_revision_keeps_what_the_first_stored(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    engine = make_engine(empty_database_url)
    now = "2026-11-22 12:00:00+00:00"
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO deployments (id, github_id, repository, environment, sha, ref,"
                    " task, created_at, recorded_at, production, transient, is_remedy)"
                    " VALUES (1, 42, 'octo-org/shop', 'production', :sha, 'main', 'deploy',"
                    " :now, :now, true, false, false)"
                ),
                {"sha": "a" * 40, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO incidents (id, deployment_id, repository, environment, code,"
                    " severity, state, issue_number, opened_at, updated_at) VALUES (1, 1,"
                    " 'octo-org/shop', 'production', 'INC-20261122-001', 'P1', 'open', 7,"
                    " :now, :now)"
                ),
                {"now": now},
            )
    finally:
        engine.dispose()

    result = upgrade(empty_database_url)

    assert (result.before, result.after) == ("0001", head_revision())
    assert _schema_differences(empty_database_url) == []
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            kept = connection.execute(
                sa.text("SELECT code, issue_number, remedy_told FROM incidents")
            ).all()
            comments = connection.execute(sa.text("SELECT count(*) FROM incident_comments"))
            assert [tuple(row) for row in kept] == [("INC-20261122-001", 7, None)]
            assert comments.scalar() == 0
    finally:
        engine.dispose()


def test_the_queued_deliveries_revision_keeps_old_deliveries_and_undoes_cleanly(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0002")
    insert = sa.text(
        "INSERT INTO deliveries (delivery_id, event, action, outcome, detail, received_at)"
        " VALUES (:delivery, 'deployment_status', 'created', :outcome, NULL,"
        " '2026-11-22 12:00:00+00:00')"
    )
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert, {"delivery": "handled-before", "outcome": "accepted"})

        assert upgrade(empty_database_url).after == head_revision()
        assert _schema_differences(empty_database_url) == []
        with engine.begin() as connection:
            kept = connection.execute(
                sa.text("SELECT delivery_id, outcome, payload FROM deliveries")
            )
            assert [tuple(row) for row in kept] == [("handled-before", "accepted", None)]
            connection.execute(insert, {"delivery": "waiting", "outcome": "queued"})

        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0002")
            connection.commit()
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT delivery_id, outcome FROM deliveries ORDER BY id")
            ).all()
            columns = {c["name"] for c in sa.inspect(connection).get_columns("deliveries")}
        # A queued delivery cannot wait without its payload: redelivering it runs it again.
        assert [tuple(row) for row in rows] == [
            ("handled-before", "accepted"),
            ("waiting", "error"),
        ]
        assert "payload" not in columns
    finally:
        engine.dispose()
