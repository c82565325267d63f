"""Log lines as JSON (or text for people): one event name per line, with its context bound.

`bound(delivery=..., repository=...)` puts context on every line logged inside it (contextvars,
so threads and requests do not mix); `get_logger(__name__).info("event.name", key=value)`
writes one event. `configure_logging` installs the one handler, with the redaction filter.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Literal, TextIO

from guard.observability.redaction import Redactor

# The context a line can carry, in the order text lines show it.
CONTEXT_KEYS: Final = ("delivery", "installation", "repository", "deployment", "environment")
LogFormat = Literal["json", "text"]

_EMPTY: Final[Mapping[str, object]] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("guard_log_context", default=_EMPTY)
# Record attributes this module adds: the event's own fields and the context at that moment.
_FIELDS_ATTRIBUTE: Final = "guard_fields"
_CONTEXT_ATTRIBUTE: Final = "guard_context"
_BASE_KEYS: Final = frozenset({"timestamp", "level", "event", "logger", "exception"})


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add `fields` (None values are left out) to every line logged inside this block."""
    present = {key: value for key, value in fields.items() if value is not None}
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **present}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def add_context(**fields: object) -> None:
    """Add `fields` to the context until the enclosing `bound` block ends.

    Only inside a `bound` block: its exit restores what was bound before, which is what keeps
    one request's context from leaking into the next one its thread serves.
    """
    present = {key: value for key, value in fields.items() if value is not None}
    _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **present}))


def current_context() -> Mapping[str, object]:
    """The fields bound here, by `bound` blocks around this call."""
    return _CONTEXT.get()


class EventLogger:
    """Writes events: a short dotted name (`webhook.accepted`) and its fields, one per line."""

    def __init__(self, logger: logging.Logger, fields: Mapping[str, object] | None = None) -> None:
        self._logger = logger
        self._fields: Mapping[str, object] = dict(fields or {})

    @property
    def fields(self) -> Mapping[str, object]:
        return self._fields

    def bind(self, **fields: object) -> EventLogger:
        """A logger that adds `fields` to every event it writes."""
        present = {key: value for key, value in fields.items() if value is not None}
        return EventLogger(self._logger, {**self._fields, **present})

    def debug(self, event: str, /, **fields: object) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, /, **fields: object) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, /, **fields: object) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, /, **fields: object) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, /, **fields: object) -> None:
        """An error with the exception being handled and its traceback."""
        self._log(logging.ERROR, event, fields, exc_info=True)

    def _log(
        self, level: int, event: str, fields: Mapping[str, object], *, exc_info: bool = False
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        extra = {_FIELDS_ATTRIBUTE: {**self._fields, **fields}}
        # stacklevel 3: the line that called info()/error(), not this module.
        self._logger.log(level, event, exc_info=exc_info, extra=extra, stacklevel=3)


def get_logger(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name))


def error_summary(error: BaseException) -> str:
    """The first line of an exception's message (drivers write several), or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class RedactingFilter(logging.Filter):
    """Removes secrets from a record's message, fields, context and traceback, in place.

    It runs on the handler, so it sees records from every library, not only the guard's,
    and it also freezes the bound context into the record while still in the caller's thread.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A library's bad format string: keep what it said rather than lose the line.
            message = f"{record.msg} {record.args}"
        record.msg = self.redactor.text(message)
        record.args = None
        fields = getattr(record, _FIELDS_ATTRIBUTE, None)
        if isinstance(fields, Mapping):
            setattr(record, _FIELDS_ATTRIBUTE, self.redactor.value(fields))
        setattr(record, _CONTEXT_ATTRIBUTE, self.redactor.value(current_context()))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        return True


def _extras(record: logging.LogRecord) -> dict[str, object]:
    context = getattr(record, _CONTEXT_ATTRIBUTE, None)
    fields = getattr(record, _FIELDS_ATTRIBUTE, None)
    merged: dict[str, object] = {}
    merged.update(context if isinstance(context, Mapping) else current_context())
    if isinstance(fields, Mapping):
        merged.update(fields)
    return merged


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    text = record.exc_text or ""
    if record.stack_info:
        text = f"{text}\n{record.stack_info}" if text else record.stack_info
    return text or None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, event, logger, context, fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        for key, value in _extras(record).items():
            # The base keys win: a field named "event" must not hide which event this is.
            if key not in _BASE_KEYS:
                entry[key] = value
        exception = _exception_text(self, record)
        if exception:
            entry["exception"] = exception
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678Z INFO    webhook.accepted delivery=... status=202` for people."""

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        ordered: list[str] = [key for key in CONTEXT_KEYS if key in extras]
        ordered += [key for key in extras if key not in CONTEXT_KEYS]
        pairs = " ".join(f"{key}={_text_value(extras[key])}" for key in ordered)
        line = f"{_timestamp(record)} {record.levelname:<7} {record.getMessage()}"
        line = f"{line} {pairs}" if pairs else line
        exception = _exception_text(self, record)
        return f"{line}\n{exception}" if exception else line


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or "=" in text else text


class GuardHandler(logging.StreamHandler[TextIO]):
    """The guard's one log handler (a marker class, so configuring twice replaces it)."""


def make_handler(
    log_format: LogFormat, redactor: Redactor, stream: TextIO | None = None
) -> GuardHandler:
    """A handler writing `log_format` lines to `stream` (default stderr), secrets redacted."""
    handler = GuardHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter(redactor))
    return handler


def configure_logging(
    log_format: LogFormat = "json",
    redactor: Redactor | None = None,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> GuardHandler:
    """Send every log record (the guard's and its libraries') through one redacting handler."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, GuardHandler)]:
        root.removeHandler(existing)
    handler = make_handler(log_format, redactor or Redactor(), stream)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
