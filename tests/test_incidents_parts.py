"""The small parts of an incident: chart, suspects, labels, evidence and Markdown safety."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guard.github.models import ChangedFile, ComparedCommit, Comparison
from guard.incidents.chart import MAX_POINTS, probe_chart
from guard.incidents.evidence import gather
from guard.incidents.labels import GUARD_LABEL, incident_labels
from guard.incidents.markdown import cell, duration, fence_for, inline_code, utc
from guard.incidents.suspects import pull_number, suspects_from_comparison, web_url_for_api
from guard.outcomes import Phase, Severity
from tests.test_incidents_support import http, watch_failure_results


def test_the_chart_marks_failed_rounds_and_caps_its_points() -> None:
    smoke, rounds = watch_failure_results()
    chart = probe_chart([*smoke, *(r for results in rounds for r in results)])
    assert chart is not None
    assert '["1", "2", "3 ✗", "4 ✗", "5 ✗"]' in chart.source
    assert "bar [45, 52, 1210, 1304, 998]" in chart.source
    assert "0 --> 1500" in chart.source
    many = [http("health", Phase.WATCH, n, code=503 if n == 70 else 200) for n in range(1, 101)]
    capped = probe_chart(many)
    assert capped is not None
    labels = capped.source.split("[", 2)[1].split("]")[0].split(", ")
    assert len(labels) <= MAX_POINTS
    assert labels[0] == '"1-4"'
    assert '"69-72 ✗"' in labels
    assert "merged 4 to a bar" in capped.caption


def test_smoke_only_runs_chart_their_checks_and_no_timing_means_no_chart() -> None:
    smoke = [
        http("home page", Phase.SMOKE, 0, code=500, ms=31, path="/"),
        http('api "health"', Phase.SMOKE, 0, ms=8),
    ]
    chart = probe_chart(smoke)
    assert chart is not None
    assert '["home page ✗", "api \'health\'"]' in chart.source
    assert probe_chart([http("x", Phase.SMOKE, 0, code=None)]) is None
    assert probe_chart([]) is None


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("Merge pull request #42 from acme/faster-health\n\nFaster", 42),
        ("Pool connections (#41)", 41),
        ("Pool connections (#41)\n\n* squashed (#7)", 41),
        ("Refs #12 but not merged", None),
        ("Fix (#abc)", None),
    ],
)
def test_pull_requests_are_found_in_commit_messages(message: str, number: int | None) -> None:
    assert pull_number(message) == number


def test_web_urls_follow_the_api_url() -> None:
    assert web_url_for_api("https://api.github.com") == "https://github.com"
    assert web_url_for_api("https://ghe.example.com/api/v3/") == "https://ghe.example.com"
    assert web_url_for_api("https://api.acme.ghe.com") == "https://acme.ghe.com"
    assert web_url_for_api("http://127.0.0.1:8765") == "http://127.0.0.1:8765"


def test_a_comparison_becomes_suspects_with_pull_requests_and_paths() -> None:
    comparison = Comparison(
        status="ahead",
        ahead_by=3,
        behind_by=0,
        commits=(
            ComparedCommit("a" * 40, "Pool connections (#41)\n\nbody", "mona"),
            ComparedCommit("b" * 40, "Hot fix", None),
        ),
        files=(
            ChangedFile("web/health.py", "modified"),
            ChangedFile("app/db.py", "renamed", previous_filename="app/database.py"),
        ),
    )
    found = suspects_from_comparison(comparison, "https://github.com/acme/shop", {"b" * 40: "Ann"})
    first, second = found.commits
    assert (first.subject, first.pull_number, first.author_login) == (
        "Pool connections (#41)",
        41,
        "mona",
    )
    assert first.pull_url == "https://github.com/acme/shop/pull/41"
    assert (second.pull_number, second.author_name) == (None, "Ann")
    assert found.changed_paths == ("web/health.py", "app/database.py", "app/db.py")
    assert found.incomplete  # 3 ahead, 2 listed


def test_labels_add_severity_environment_and_ours_without_duplicates() -> None:
    labels = incident_labels(["incident", "Incident", " oncall "], Severity.P0, "production")
    assert list(labels) == ["incident", "oncall", "severity:P0", "env:production", GUARD_LABEL]
    assert labels["severity:P0"] == "b60205"
    long = incident_labels([], Severity.P3, "e" * 80)
    assert max(len(name) for name in long) == 50


def test_evidence_groups_identical_answers_and_cuts_long_ones() -> None:
    results = [
        http("health", Phase.WATCH, n, code=503, evidence="same\r\nbody\x00") for n in (1, 2)
    ] + [http("health", Phase.WATCH, 3, code=503, evidence="x" * 50 + "```")]
    found = gather(results, items=10, chars=20)
    assert [item.rounds for item in found.items] == [(1, 2), (3,)]
    assert found.items[0].excerpt == "same\nbody\ufffd"
    assert found.items[0].where == "watch rounds 1, 2"
    assert found.items[1].excerpt == "x" * 20 + "\n… (33 more characters not shown)"
    assert gather(results, items=1, chars=20).left_out == 1


def test_markdown_pieces_are_safe() -> None:
    assert cell("a|b\n<b>@mona</b>") == "a\\|b &lt;b>@&#8203;mona&lt;/b>"
    assert cell("") == " "
    assert cell("x" * 400).endswith("…")
    assert inline_code("a`b") == "``a`b``"
    assert inline_code("`a") == "`` `a ``"
    assert fence_for("```\ncode\n````") == "`````"
    assert fence_for("plain") == "```"
    assert [duration(s) for s in (0.4, 45, 252, 3780, 86400 * 3 + 3600)] == [
        "0 s",
        "45 s",
        "4 min 12 s",
        "1 h 3 min",
        "3 d 1 h",
    ]
    assert duration(float("nan")) == "unknown"
    naive = datetime(2026, 11, 22, 14, 0)
    assert utc(naive) == "2026-11-22 14:00:00 UTC"
    assert utc(datetime(2026, 11, 22, 15, 0, tzinfo=UTC).astimezone()) == "2026-11-22 15:00:00 UTC"
