"""`deploy-guard rollback` against the sandbox: what it did or would do, and its exit codes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guard.cli import main
from guard.outcomes import VerdictKind
from guard.store import RemedyState
from tests.remedies_world import ENVIRONMENT, REPO, RemedyWorld, remedy_world

POLICY = """\
version: 1
environments:
  production:
    on_failure:
      action: rollback
      rollback:
        strategy: revert
"""


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'guard.db'}"


@pytest.fixture
def shop(database: str, tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(database, tmp_path / "clones") as world:
        yield world


@pytest.fixture
def environment(
    shop: RemedyWorld, database: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The guard's settings for the sandbox, as an operator would export them."""
    for name in list(os.environ):
        if name.startswith("GUARD_"):
            monkeypatch.delenv(name)
    values = {
        "GUARD_GITHUB_API_URL": shop.sandbox.base_url,
        "GUARD_GITHUB_APP_ID": str(shop.app.app_id),
        "GUARD_GITHUB_PRIVATE_KEY": shop.app.private_key_pem,
        "GUARD_DATABASE_URL": database,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def rollback(*args: str) -> Result:
    command = ["rollback", "--repo", REPO, "--environment", ENVIRONMENT, "--no-github-pacing"]
    return CliRunner().invoke(main, [*command, *args])


def story(shop: RemedyWorld) -> int:
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return bad.id


def test_a_rollback_by_hand_redeploys_the_last_verified_good_ref(
    shop: RemedyWorld, environment: dict[str, str]
) -> None:
    bad = story(shop)

    result = rollback()

    assert result.exit_code == 0, result.output
    made = shop.deployments()[-1]
    assert (made.ref, made.sha) == ("v1.3.2", shop.good_sha)
    assert result.output.splitlines() == [
        f"Deployment {bad} of main ({shop.bad_sha[:7]}) to production, the newest:",
        f"Remedy done: created deployment {made.id} of v1.3.2 ({shop.good_sha[:7]}) to production.",
    ]
    failure = next(s for s in shop.statuses(bad) if s.state == "failure")
    assert failure.description == (
        f"deploy-guard: rolled back to v1.3.2 ({shop.good_sha[:7]}) by hand "
        "(a person ran deploy-guard rollback)"
    )
    # The newest deployment is now the rollback itself, which runs the good commit already.
    again = rollback()
    assert again.exit_code == 1
    assert f"Deployment {made.id} of v1.3.2" in again.output
    assert len(shop.deployments()) == 3


def test_a_dry_run_prints_what_it_would_do_and_writes_nothing(
    shop: RemedyWorld, environment: dict[str, str]
) -> None:
    story(shop)
    mark = shop.sandbox.calls.last_seq

    result = rollback("--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"Dry run: the guard would redeploy v1.3.2 ({shop.good_sha[:7]}) to production. "
        "It changed nothing."
    )
    assert shop.writes(mark) == []
    assert shop.remedies() == []


def test_the_policys_strategy_is_used_and_to_picks_the_target(
    shop: RemedyWorld, environment: dict[str, str]
) -> None:
    shop.sandbox.commit(REPO, {".github/deploy-guard.yml": POLICY}, "Guard the shop")
    # No verified-good deployment on record: a person names the target.
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)

    refused = rollback()
    result = rollback("--to", "v1.3.2")

    assert refused.exit_code == 1
    assert "no verified-good deployment of production" in refused.output
    assert result.exit_code == 0, result.output
    head = shop.sandbox.branch_sha(REPO)
    assert head is not None
    assert shop.same_tree(shop.good_sha, head)
    (remedy,) = shop.remedies()
    assert (remedy.strategy, remedy.state, remedy.target_ref) == (
        "revert",
        RemedyState.DONE,
        "v1.3.2",
    )
    assert f"Deployment {bad.id} of main" in result.output


def test_a_strategy_without_its_settings_is_a_usage_error(
    shop: RemedyWorld, environment: dict[str, str]
) -> None:
    story(shop)
    result = rollback("--strategy", "aws_ecs")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --strategy aws_ecs: strategy aws_ecs needs aws: {region, cluster, service}"
    ]
    assert shop.remedies() == []


def test_a_failed_remedy_exits_1(shop: RemedyWorld, environment: dict[str, str]) -> None:
    bad = story(shop)
    shop.sandbox.commit(REPO, {"app/checkout.py": "conflict\n"}, "Hotfix")
    shop.sandbox.protect_branch(REPO, "main")
    result = rollback("--strategy", "revert_pr")
    assert result.exit_code == 1
    assert "conflicts in app/checkout.py" in result.output
    assert f"Deployment {bad} of main" in result.output


def test_nothing_deployed_exits_1(shop: RemedyWorld, environment: dict[str, str]) -> None:
    result = rollback("--installation-id", str(shop.installation_id))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{REPO} has no deployment to production: there is nothing to roll back"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"GUARD_GITHUB_APP_ID": ""}, "GUARD_GITHUB_PRIVATE_KEY is set but GUARD_GITHUB_APP_ID"),
        ({"GUARD_DATABASE_URL": "mysql://db/guard"}, "GUARD_DATABASE_URL"),
    ],
)
def test_settings_problems_are_one_line_and_exit_2(
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    expected: str,
) -> None:
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    result = rollback()
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert expected in result.output
    assert "Traceback" not in result.output


def test_an_unmigrated_database_says_how_to_fix_it(
    shop: RemedyWorld,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("GUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = rollback()
    assert result.exit_code == 2
    assert "run `deploy-guard db upgrade` first" in result.output


def test_the_installation_must_be_known_or_given(
    shop: RemedyWorld, environment: dict[str, str]
) -> None:
    shop.deploy("main")
    unknown = rollback("--dry-run")
    given = rollback("--dry-run", "--installation-id", str(shop.installation_id), "--to", "v1.3.2")
    assert unknown.exit_code == 2
    assert "pass --installation-id" in unknown.output
    assert given.exit_code == 0, given.output
    assert given.output.splitlines()[-1].startswith("Dry run: the guard would redeploy v1.3.2")


def test_a_malformed_repository_is_a_usage_error(environment: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["rollback", "--repo", "shop", "--environment", "prod"])
    assert result.exit_code == 2
    assert "not a repository as owner/name" in result.output


def test_credentials_github_refuses_are_a_settings_error(
    shop: RemedyWorld, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARD_GITHUB_APP_ID")
    monkeypatch.delenv("GUARD_GITHUB_PRIVATE_KEY")
    monkeypatch.setenv("GUARD_GITHUB_TOKEN", "ghp_not_a_token_the_sandbox_knows")
    result = rollback()
    assert result.exit_code == 2
    assert result.output.startswith("Error: GitHub refused the guard's credentials:")
    assert "Bad credentials" in result.output
    assert "Traceback" not in result.output
    assert "ghp_not_a_token" not in result.output
