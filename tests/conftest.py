"""Shared fixtures: real PostgreSQL and Redis servers, which must be there under CI=true."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

# The local GitHub sandbox fixtures (`sandbox`, `world`, ...), shared by every GitHub-facing
# test; the service tests' `settings` and `make_app`.
pytest_plugins = ["tests.sandbox_fixtures", "tests.aws_world", "tests.service_fixtures"]

POSTGRES_HOST = os.environ.get("GUARD_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("GUARD_TEST_POSTGRES_PORT", "5432"))
REDIS_HOST = os.environ.get("GUARD_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("GUARD_TEST_REDIS_PORT", "6379"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip with the reason when the server is missing; under CI=true, fail instead."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: tests on real servers must not skip)")
    pytest.skip(reason=f"{message}; start it to run this test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema-scoped database URL, dropped afterwards."""
    require_server("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    import psycopg

    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"
    name = f"guard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """The Redis server's URL, on a database number no other test run uses."""
    require_server("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
