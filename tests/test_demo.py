"""The demo story completes: the healthy deploy passes, the broken one fails with its reasons."""

from __future__ import annotations

from click.testing import CliRunner

from guard.cli import main
from guard.demo.story import run_demo
from guard.outcomes import VerdictKind


class ManualClock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_story_completes_and_says_what_it_showed() -> None:
    lines: list[str] = []
    clock = ManualClock()
    outcome = run_demo(lines.append, clock=clock, sleep=clock.sleep)
    text = "\n".join(lines)
    assert outcome.completed
    assert outcome.healthy.kind is VerdictKind.PASS
    assert outcome.broken.kind is VerdictKind.FAIL
    assert "Verdict: PASS after 3 of 3 watch rounds" in text
    assert "Smoke check home page failed" in text
    assert "What this showed" in text


def test_the_demo_command_exits_0_when_the_story_completed() -> None:
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1. The example shop runs v1")
