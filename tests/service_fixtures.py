"""The service tests' fixtures: settings on a fresh SQLite database, apps closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.settings import Settings
from tests.service_support import Apps, service_settings, sqlite_url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The service's settings (a secret, a plain token) on a new SQLite file in `tmp_path`."""
    return service_settings(sqlite_url(tmp_path))


@pytest.fixture
def make_app() -> Iterator[Apps]:
    """Makes service apps; their database connections are given back after the test."""
    apps = Apps()
    yield apps
    apps.close()
