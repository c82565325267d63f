"""GitHub Actions' workflow commands and files: masks, annotations, outputs and the job summary.

Everything printed goes through `Commands`, which redacts every registered secret first, so a
secret reaches the log only inside the `::add-mask::` command that hides it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO

from guard.policy.secrets import redact

AnnotationKind = Literal["error", "warning", "notice"]

# GitHub shows at most 1 MiB of summary per step and drops the whole summary beyond it.
SUMMARY_LIMIT_BYTES = 1024 * 1024
SUMMARY_CUT_NOTE = "\n\n… (cut to fit the 1 MiB limit of a job summary; the step's log has more)\n"
OUTPUTS_WITHOUT_FILE = "outputs (no GITHUB_OUTPUT file: not running in GitHub Actions):"
# Shorter secrets would mask ordinary words all over the log.
MIN_MASK_LENGTH = 4


def escape_data(text: str) -> str:
    """A command's message: %, CR and LF would end or corrupt the command line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command property (title, file): also `:` and `,`, which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Commands:
    """Workflow commands and plain log lines on one stream, secrets redacted."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._secrets: list[str] = []

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def mask(self, value: str | None) -> None:
        """Register a secret with the runner (each line: masks match within one line)."""
        if not value:
            return
        for line in dict.fromkeys(value.splitlines()):
            part = line.strip()
            if len(part) < MIN_MASK_LENGTH or part in self._secrets:
                continue
            self._write(f"::add-mask::{escape_data(part)}")
            self._secrets.append(part)
        # Longest first, so a secret containing another is redacted whole.
        self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def line(self, text: str = "") -> None:
        for part in self.redact(text).splitlines() or [""]:
            self._write(part)

    def annotate(
        self,
        kind: AnnotationKind,
        message: str,
        *,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        """`::error title=...::message`, shown on the run's page and in the log."""
        properties = []
        if file:
            properties.append(f"file={escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
        if title:
            properties.append(f"title={escape_property(self.redact(title))}")
        joined = (" " + ",".join(properties)) if properties else ""
        self._write(f"::{kind}{joined}::{escape_data(self.redact(message))}")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A foldable group of log lines."""
        self._write(f"::group::{escape_data(self.redact(title))}")
        try:
            yield
        finally:
            self._write("::endgroup::")

    @contextmanager
    def untrusted(self) -> Iterator[None]:
        """Lines that quote what a probed service answered: no line of it may run a command."""
        token = secrets.token_hex(16)
        self._write(f"::stop-commands::{token}")
        try:
            yield
        finally:
            self._write(f"::{token}::")

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _delimiter(value: str) -> str:
    while True:
        candidate = f"ghadelimiter_{secrets.token_hex(16)}"
        if candidate not in value:
            return candidate


def write_outputs(path: Path | None, values: Mapping[str, str], commands: Commands) -> None:
    """Append `name<<DELIMITER` blocks to GITHUB_OUTPUT: safe for any value, newlines included."""
    if path is None:
        commands.line(OUTPUTS_WITHOUT_FILE)
        for name, value in values.items():
            commands.line(f"  {name}={value}")
        return
    with path.open("a", encoding="utf-8") as output:
        for name, value in values.items():
            clean = commands.redact(value)
            delimiter = _delimiter(clean)
            output.write(f"{name}<<{delimiter}\n{clean}\n{delimiter}\n")


def fit_summary(text: str, limit: int = SUMMARY_LIMIT_BYTES) -> str:
    """`text` within `limit` bytes of UTF-8, saying so at its end when it was cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(SUMMARY_CUT_NOTE.encode("utf-8"))
    return encoded[:room].decode("utf-8", errors="ignore").rstrip() + SUMMARY_CUT_NOTE


def append_summary(path: Path | None, markdown: str, commands: Commands) -> None:
    """Add the step's summary to GITHUB_STEP_SUMMARY (redacted, within GitHub's limit)."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as summary:
        summary.write(fit_summary(commands.redact(markdown)))
