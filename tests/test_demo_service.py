"""The demo's `deploy-guard serve`: its own settings only, and a failed start says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.cli import main
from guard.cli.demo_command import OUTCOME_KEY
from guard.demo.guard_service import GuardService, GuardServiceError, inherited_environment
from guard.demo.story import StoryOutcome
from guard.sandbox import AppCredentials
from tests.serve_process import running

NOT_A_KEY = AppCredentials(app_id=7, slug="deploy-guard", client_id="Iv1.x", private_key_pem="no")


def test_the_users_own_guard_settings_do_not_reach_the_demos_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARD_GITHUB_TOKEN", "ghp_the_users_own")
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example.com/1")
    service = GuardService(tmp_path, github_api_url="http://127.0.0.1:9", app=NOT_A_KEY)

    inherited = inherited_environment()
    settings = service.environment()

    assert "GUARD_GITHUB_TOKEN" not in inherited
    assert "SENTRY_DSN" not in inherited
    assert settings["GUARD_GITHUB_APP_ID"] == "7"
    assert settings["GUARD_GITHUB_API_URL"] == "http://127.0.0.1:9"
    assert settings["GUARD_ALLOW_PRIVATE_NETWORKS"] == "true"
    assert settings["GUARD_PUBLIC_URL"] == service.url
    assert settings["GUARD_DATABASE_URL"].startswith(f"sqlite:///{tmp_path}")


@pytest.mark.slow
def test_a_serve_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    service = GuardService(tmp_path, github_api_url="http://127.0.0.1:9", app=NOT_A_KEY)
    with pytest.raises(GuardServiceError) as raised:
        service.start(deadline=float("inf"))
    assert "exited with status 2" in str(raised.value)
    # serve's own one-line reason, from its log.
    assert "GUARD_GITHUB_PRIVATE_KEY" in str(raised.value)
    assert service.process is not None
    assert not running(service.process.pid)


@pytest.mark.slow
def test_a_story_out_of_time_exits_1_saying_what_did_not_happen() -> None:
    holder: dict[str, object] = {}
    result = CliRunner().invoke(main, ["demo", "--timeout", "10"], obj=holder)
    outcome = holder.get(OUTCOME_KEY)
    assert isinstance(outcome, StoryOutcome), result.output
    assert result.exit_code == 1
    assert not outcome.completed
    # Ten seconds are too few for serve to start and verify v1, whichever comes first.
    if outcome.start_error is not None:
        assert "did not answer /healthz in time" in result.output
    else:
        assert outcome.timed_out
        assert "The story did not complete within 10 s. What did not happen:" in result.output
        assert outcome.missing
        for gap in outcome.missing:
            assert f"  - {gap}" in result.output
    for path in outcome.temporary_paths:
        assert not path.exists()
