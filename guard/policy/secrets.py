"""`${GUARD_SECRET_*}` placeholders: filled from the guard's own environment, never shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# A name prefix, not a secret: only variables named so may fill a placeholder.
SECRET_PREFIX = "GUARD_SECRET_"  # noqa: S105
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_SECRET_NAME = re.compile(r"^GUARD_SECRET_[A-Z0-9_]+$")
REDACTED = "***"


class SecretError(ValueError):
    """A placeholder that names a variable the guard may not read, or one that is not set."""


def placeholder_problems(text: str) -> list[str]:
    """Reasons the placeholders in `text` are not allowed (empty when they all are)."""
    problems = []
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if not _SECRET_NAME.match(name):
            problems.append(
                f"${{{name}}} cannot be read: only variables named {SECRET_PREFIX}* "
                "(capitals, digits, _) can fill a placeholder"
            )
    return problems


def expand_secrets(text: str, environ: Mapping[str, str]) -> str:
    """Fill every `${GUARD_SECRET_*}` in `text`; a missing one is an error naming it."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _SECRET_NAME.match(name):
            raise SecretError(placeholder_problems(match.group(0))[0])
        if name not in environ:
            raise SecretError(f"the secret {name} is not set in the guard's environment")
        return environ[name]

    return PLACEHOLDER.sub(fill, text)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Every secret value the guard holds, longest first, for redaction."""
    values = {v for k, v in environ.items() if k.startswith(SECRET_PREFIX) and len(v) >= 4}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    return text
