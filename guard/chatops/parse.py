"""Reading `/guard` commands out of a comment: what was asked, or what was wrong with it.

    /guard rollback [ENV]      /guard retry [ENV]      /guard allow <sha>
    /guard freeze ENV [for 2h]                         /guard unfreeze ENV

The first line that starts with `/guard` is the command; the rest of the comment is the
person's own words. ENV `*` means every environment of the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

PREFIX = "/guard"
ALL_ENVIRONMENTS = "*"
# Longest freeze one comment may set: anything longer is a policy freeze window.
MAX_FREEZE = timedelta(days=30)

Verb = Literal["rollback", "retry", "allow", "freeze", "unfreeze", "help"]

USAGE = (
    "`/guard rollback [ENV]`, `/guard retry [ENV]`, `/guard allow <sha>`, "
    "`/guard freeze ENV [for 2h]`, `/guard unfreeze ENV`"
)
UNKNOWN_VERB = "`{verb}` is not a deploy-guard command; the commands are {usage}"
NEEDS_SHA = "`/guard allow` needs the commit, e.g. `/guard allow 1a2b3c4`"
NOT_A_SHA = "`{text}` is not a commit SHA (7 to 64 hexadecimal characters)"
NEEDS_ENVIRONMENT = "`/guard {verb}` needs the environment, e.g. `/guard {verb} production`"
NOT_AN_ENVIRONMENT = "`{text}` is not an environment name"
NOT_A_DURATION = "`{text}` is not a duration (examples: `for 30m`, `for 2h`, `for 1d`)"
TOO_LONG = "a freeze lasts at most 30 days; `{text}` is longer"
TOO_MANY_WORDS = "`/guard {verb}` takes {expected}; `{extra}` is one word too many"

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
# GitHub environment names: up to 255 characters; spaces would make the command ambiguous.
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._/-]{1,255}")
# Bounded digits: a duration of a billion days is not a typo to humour.
_DURATION = re.compile(r"(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?")


@dataclass(frozen=True)
class Command:
    """One command: the verb and what it names."""

    verb: Verb
    environment: str | None = None
    sha: str | None = None
    duration: timedelta | None = None


@dataclass(frozen=True)
class CommandError:
    """A `/guard` line that is not a command, and the sentence telling how to write it."""

    message: str


def command_line(body: str) -> str | None:
    """The comment's first `/guard` line, or None when it has none."""
    for line in body.splitlines():
        words = line.split(maxsplit=1)
        if words and words[0] == PREFIX:
            return line.strip()
    return None


def parse_command(body: str) -> Command | CommandError | None:
    """The command in a comment; None when the comment holds no `/guard` line."""
    line = command_line(body)
    if line is None:
        return None
    words = line.split()[1:]
    if not words or words[0].lower() == "help":
        return Command("help")
    verb, arguments = words[0].lower(), words[1:]
    if verb == "rollback":
        return _optional_environment("rollback", arguments)
    if verb == "retry":
        return _optional_environment("retry", arguments)
    if verb == "allow":
        return _allow(arguments)
    if verb == "freeze":
        return _freeze(arguments)
    if verb == "unfreeze":
        return _unfreeze(arguments)
    return CommandError(UNKNOWN_VERB.format(verb=words[0], usage=USAGE))


def _environment(text: str) -> str | CommandError:
    if text == ALL_ENVIRONMENTS or _ENVIRONMENT.fullmatch(text):
        return text
    return CommandError(NOT_AN_ENVIRONMENT.format(text=text))


def _optional_environment(
    verb: Literal["rollback", "retry"], arguments: list[str]
) -> Command | CommandError:
    if len(arguments) > 1:
        return CommandError(
            TOO_MANY_WORDS.format(verb=verb, expected="at most an environment", extra=arguments[1])
        )
    if not arguments:
        return Command(verb)
    environment = _environment(arguments[0])
    if isinstance(environment, CommandError):
        return environment
    return Command(verb, environment=environment)


def _allow(arguments: list[str]) -> Command | CommandError:
    if not arguments:
        return CommandError(NEEDS_SHA)
    if len(arguments) > 1:
        return CommandError(
            TOO_MANY_WORDS.format(verb="allow", expected="one commit", extra=arguments[1])
        )
    if not _SHA.fullmatch(arguments[0]):
        return CommandError(NOT_A_SHA.format(text=arguments[0]))
    return Command("allow", sha=arguments[0].lower())


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `2h`, `1d`, `1h30m`: a positive duration, or None when it is not one."""
    match = _DURATION.fullmatch(text.lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    return duration if duration > timedelta(0) else None


def _freeze(arguments: list[str]) -> Command | CommandError:
    if not arguments:
        return CommandError(NEEDS_ENVIRONMENT.format(verb="freeze"))
    environment = _environment(arguments[0])
    if isinstance(environment, CommandError):
        return environment
    rest = arguments[1:]
    if rest and rest[0].lower() == "for":
        rest = rest[1:]
        if not rest:
            return CommandError(NOT_A_DURATION.format(text="for"))
    if not rest:
        return Command("freeze", environment=environment)
    if len(rest) > 1:
        return CommandError(
            TOO_MANY_WORDS.format(
                verb="freeze", expected="an environment and a duration", extra=rest[1]
            )
        )
    duration = parse_duration(rest[0])
    if duration is None:
        return CommandError(NOT_A_DURATION.format(text=rest[0]))
    if duration > MAX_FREEZE:
        return CommandError(TOO_LONG.format(text=rest[0]))
    return Command("freeze", environment=environment, duration=duration)


def _unfreeze(arguments: list[str]) -> Command | CommandError:
    if not arguments:
        return CommandError(NEEDS_ENVIRONMENT.format(verb="unfreeze"))
    if len(arguments) > 1:
        return CommandError(
            TOO_MANY_WORDS.format(verb="unfreeze", expected="one environment", extra=arguments[1])
        )
    environment = _environment(arguments[0])
    if isinstance(environment, CommandError):
        return environment
    return Command("unfreeze", environment=environment)
