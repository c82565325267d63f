"""`deploy-guard verify` against a real local service: tables, JSON, exit codes, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.cli import main
from guard.demo.example_service import ExampleService

POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
        expect: {{status: 200, body_contains: Add to cart}}
      - name: api health
        get: /api/health
        headers:
          Authorization: Bearer ${{GUARD_SECRET_SHOP_TOKEN}}
        expect:
          json: {{$.db.connected: true}}
    watch:
      interval: {interval}
      duration: {duration}
      probes:
        - name: health
          get: /health
      fail_when: {{consecutive_failures: 2}}
    on_failure:
      action: rollback
"""


@pytest.fixture
def shop() -> Iterator[ExampleService]:
    with ExampleService() as service:
        yield service


def write_policy(tmp_path: Path, interval: str = "50ms", duration: str = "100ms") -> Path:
    path = tmp_path / "deploy-guard.yml"
    path.write_text(POLICY.format(interval=interval, duration=duration), encoding="utf-8")
    return path


def run(args: list[str], secret: str = "s3cr3t-t0ken") -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, args, env={"GUARD_SECRET_SHOP_TOKEN": secret})
    return result.exit_code, result.stdout, result.stderr


def test_a_healthy_service_passes_with_a_table(tmp_path: Path, shop: ExampleService) -> None:
    policy = write_policy(tmp_path)
    code, out, err = run(["verify", "--policy", str(policy), "-e", "production", "--url", shop.url])
    assert code == 0, out + err
    assert out.splitlines()[0].split() == [
        "CHECK",
        "PHASE",
        "RESULT",
        "RUNS",
        "FAILED",
        "P95",
        "LAST",
    ]
    assert "health      watch  pass    2" in out
    assert "Verdict: PASS after 2 of 2 watch rounds" in out
    # Progress goes to stderr as plain lines when stderr is not a terminal.
    assert "smoke checks: 2 passed, 0 failed" in err
    assert "watch: round 2 of 2" in err


def test_a_broken_service_fails_with_reasons_and_exit_1(
    tmp_path: Path, shop: ExampleService
) -> None:
    shop.deploy("v2")
    policy = write_policy(tmp_path)
    code, out, _ = run(["verify", "--policy", str(policy), "-e", "production", "--url", shop.url])
    assert code == 1
    assert "Verdict: FAIL (P0 critical)" in out
    assert f"GET {shop.url}/ answered HTTP 500" in out
    assert "roll back with redeploy" in out


def test_json_output_carries_verdict_severity_reasons_and_checks(
    tmp_path: Path, shop: ExampleService
) -> None:
    shop.deploy("v2")
    policy = write_policy(tmp_path)
    code, out, _ = run(
        ["verify", "--policy", str(policy), "-e", "production", "--url", shop.url, "--json"]
    )
    assert code == 1
    document = json.loads(out)
    assert document["verdict"] == "fail"
    assert document["severity"] == "P0"
    assert {check["name"] for check in document["checks"]} == {"home page", "api health"}
    assert document["reasons"][0]["subject"] == "home page"
    assert document["decision"]["action"] == "rollback"


def test_secrets_never_reach_the_output(tmp_path: Path, shop: ExampleService) -> None:
    shop.deploy("v2")
    policy = write_policy(tmp_path)
    secret = "very-secret-token-value"
    code, out, err = run(
        ["verify", "--policy", str(policy), "-e", "production", "--url", shop.url, "--json"],
        secret=secret,
    )
    assert code == 1
    assert secret not in out + err


def test_skip_watch_runs_the_smoke_checks_only(tmp_path: Path, shop: ExampleService) -> None:
    policy = write_policy(tmp_path, interval="1h", duration="2h")
    code, out, _ = run(
        ["verify", "--policy", str(policy), "-e", "production", "--url", shop.url, "--skip-watch"]
    )
    assert code == 0
    assert "watch" not in out.split("Verdict")[0]


def test_a_bad_policy_exits_2_with_the_line(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, interval="fast")
    code, out, err = run(["verify", "--policy", str(policy), "-e", "production"])
    assert code == 2
    assert out == ""
    assert (
        'deploy-guard.yml:15: environments.production.watch.interval: "fast" is not a duration'
        in err
    )


def test_an_unknown_environment_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    code, _, err = run(["verify", "--policy", str(policy), "-e", "staging"])
    assert code == 2
    assert "production" in err


def test_nothing_judged_is_inconclusive_with_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "deploy-guard.yml"
    path.write_text("version: 1\nenvironments:\n  production: {}\n", encoding="utf-8")
    code, out, _ = run(["verify", "--policy", str(path), "-e", "production"])
    assert code == 3
    assert "Verdict: INCONCLUSIVE" in out


def test_deny_private_networks_refuses_loopback(tmp_path: Path, shop: ExampleService) -> None:
    policy = write_policy(tmp_path)
    code, out, _ = run(
        [
            "verify",
            "--policy",
            str(policy),
            "-e",
            "production",
            "--url",
            shop.url,
            "--deny-private-networks",
        ]
    )
    assert code == 1
    assert "refused to connect to 127.0.0.1 (loopback" in out
    assert "--deny-private-networks was given" in out
