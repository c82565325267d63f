"""Reading `/guard` commands: what each line asks for, and what a mistyped one is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard.chatops.parse import (
    Command,
    CommandError,
    command_line,
    parse_command,
    parse_duration,
)


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/guard rollback", Command("rollback")),
        ("/guard rollback production", Command("rollback", environment="production")),
        ("/guard retry", Command("retry")),
        ("/guard retry staging", Command("retry", environment="staging")),
        ("/guard allow 1A2B3C4", Command("allow", sha="1a2b3c4")),
        ("/guard allow " + "f" * 40, Command("allow", sha="f" * 40)),
        ("/guard freeze production", Command("freeze", environment="production")),
        (
            "/guard freeze production for 2h",
            Command("freeze", environment="production", duration=timedelta(hours=2)),
        ),
        (
            "/guard freeze * 1h30m",
            Command("freeze", environment="*", duration=timedelta(minutes=90)),
        ),
        ("/guard unfreeze production", Command("unfreeze", environment="production")),
        ("/guard", Command("help")),
        ("/guard help", Command("help")),
        ("Rolling back now.\n\n  /guard rollback  \nthanks", Command("rollback")),
    ],
)
def test_commands(body: str, command: Command) -> None:
    assert parse_command(body) == command


@pytest.mark.parametrize(
    "body",
    ["LGTM", "I think /guard rollback is needed", "/guardrail", "`/guard rollback`", ""],
)
def test_comments_without_a_command_line(body: str) -> None:
    assert command_line(body) is None
    assert parse_command(body) is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("/guard deploy", "`deploy` is not a deploy-guard command; the commands are"),
        ("/guard allow", "`/guard allow` needs the commit"),
        ("/guard allow main", "`main` is not a commit SHA"),
        ("/guard allow abc", "`abc` is not a commit SHA"),
        ("/guard allow 1a2b3c4 now", "`now` is one word too many"),
        ("/guard freeze", "`/guard freeze` needs the environment"),
        ("/guard freeze production for", "`for` is not a duration"),
        ("/guard freeze production for ever", "`ever` is not a duration"),
        ("/guard freeze production for 31d", "a freeze lasts at most 30 days"),
        ("/guard freeze production for 2h please", "`please` is one word too many"),
        ("/guard unfreeze", "`/guard unfreeze` needs the environment"),
        ("/guard rollback prod<script>", "is not an environment name"),
        ("/guard retry production staging", "`staging` is one word too many"),
    ],
)
def test_mistakes_are_told_how_to_write_it(body: str, says: str) -> None:
    parsed = parse_command(body)

    assert isinstance(parsed, CommandError)
    assert says in parsed.message


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        ("0h", None),
        ("h", None),
        ("2 h", None),
        ("-2h", None),
        ("2x", None),
    ],
)
def test_durations(text: str, duration: timedelta | None) -> None:
    assert parse_duration(text) == duration


@given(st.text(max_size=200))
def test_any_comment_parses_to_a_command_an_error_or_nothing(body: str) -> None:
    parsed = parse_command(body)

    assert parsed is None or isinstance(parsed, Command | CommandError)
    if isinstance(parsed, CommandError):
        assert parsed.message
