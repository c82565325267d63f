"""Two Jinja2 environments: ours (trusted files in the package), the repository's (sandboxed)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from guard.incidents import markdown
from guard.outcomes import format_latency
from guard.report.check_run import THRESHOLD_WORDS

TEMPLATES = Path(__file__).parent / "templates"
# A repository template is someone else's code running in our worker: bound what it can
# build, so one template cannot stall the queue or exhaust memory for every repository.
MAX_RANGE = 1_000
MAX_PRODUCT = 100_000
MAX_CALLS = 10_000
TOO_LARGE = "the template builds a value over {limit:,} items or characters"
TOO_BUSY = "the template makes more than {limit:,} calls"
NO_LATENCY = "\u2013"  # an en dash: nothing was timed
RANGE_TOO_LONG = "range() is limited to {limit:,} items in incident templates"


def _subject(subject: str) -> str:
    return THRESHOLD_WORDS.get(subject, subject)


def _latency(seconds: float | None) -> str:
    return format_latency(seconds) if seconds is not None else NO_LATENCY


def _capitalize_first(text: str) -> str:
    # "[deployment 42](…)" -> "[Deployment 42](…)": the first letter, wherever it is.
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1 :]
    return text


def _mention(login: str) -> str:
    return f"@{login}"


def _pull_ref(number: int) -> str:
    return f"#{number}"


FILTERS: dict[str, Callable[..., str]] = {
    "cell": markdown.cell,
    "code": markdown.inline_code,
    "utc": markdown.utc,
    "utc_time": markdown.utc_time,
    "duration": markdown.duration,
    "link": markdown.link,
    "quiet": markdown.quiet,
    "html_text": markdown.html_text,
    "subject": _subject,
    "latency": _latency,
    "capitalize_first": _capitalize_first,
    "mention": _mention,
    "pull_ref": _pull_ref,
}


def builtin_environment() -> Environment:
    """The package's own templates: trusted, Markdown (so no HTML autoescape), strict."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        # Markdown for GitHub, which sanitises HTML itself; values are escaped per context
        # by the filters (cell, html_text, code) where they land in a table or a tag.
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    return environment


class RepositoryEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, with the size of ranges, products and the number of calls bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            # The output is Markdown for GitHub, which sanitises HTML itself.
            autoescape=False,
            keep_trailing_newline=True,
        )
        self.calls = 0
        self.globals["range"] = self._range
        self.filters.update(FILTERS)

    def _range(self, *args: int) -> range:
        made = range(*args)
        if len(made) > MAX_RANGE:
            raise SecurityError(RANGE_TOO_LONG.format(limit=MAX_RANGE))
        return made

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # Every call a template makes passes here, loops' range() included: count them.
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise SecurityError(TOO_BUSY.format(limit=MAX_CALLS))
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError(TOO_LARGE.format(limit=MAX_PRODUCT))
            return operator.pow(left, right)
        # "*" repeats strings and lists: check the size before building it.
        for sequence, times in ((left, right), (right, left)):
            sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
            if sized and len(sequence) * times > MAX_PRODUCT:
                raise SecurityError(TOO_LARGE.format(limit=MAX_PRODUCT))
        return operator.mul(left, right)
