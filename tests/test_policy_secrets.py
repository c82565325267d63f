"""`${GUARD_SECRET_*}` placeholders: only those names are read, and their values never shown."""

from __future__ import annotations

import pytest

from guard.policy.secrets import (
    REDACTED,
    SecretError,
    expand_secrets,
    placeholder_problems,
    redact,
    secret_values,
)

ENVIRON = {
    "GUARD_SECRET_TOKEN": "s3cr3t-token",
    "GUARD_SECRET_SHORT": "abc",
    "GUARD_SECRET_LONGER": "s3cr3t-token-and-more",
    "HOME": "/root",
}


def test_allowed_placeholders_have_no_problems() -> None:
    assert placeholder_problems("Bearer ${GUARD_SECRET_TOKEN}") == []
    assert placeholder_problems("no placeholder, $HOME and {braces}") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [("${HOME}", "HOME"), ("${GUARD_SECRET_lower}", "GUARD_SECRET_lower"), ("${}", "")],
)
def test_other_names_are_problems_naming_them(text: str, name: str) -> None:
    assert placeholder_problems(f"x {text} y") == [
        f"${{{name}}} cannot be read: only variables named GUARD_SECRET_* "
        "(capitals, digits, _) can fill a placeholder"
    ]


def test_expand_fills_every_placeholder() -> None:
    text = "Bearer ${GUARD_SECRET_TOKEN}; short=${GUARD_SECRET_SHORT}"
    assert expand_secrets(text, ENVIRON) == "Bearer s3cr3t-token; short=abc"


def test_expand_refuses_other_variables_and_missing_secrets() -> None:
    with pytest.raises(SecretError, match=r"\$\{HOME\} cannot be read"):
        expand_secrets("${HOME}", ENVIRON)
    with pytest.raises(SecretError) as raised:
        expand_secrets("${GUARD_SECRET_NOPE}", ENVIRON)
    assert str(raised.value) == "the secret GUARD_SECRET_NOPE is not set in the guard's environment"


def test_secret_values_are_longest_first_and_skip_tiny_ones() -> None:
    assert secret_values(ENVIRON) == ["s3cr3t-token-and-more", "s3cr3t-token"]


def test_redact_hides_whole_secrets() -> None:
    text = "sent s3cr3t-token-and-more and s3cr3t-token"
    assert redact(text, secret_values(ENVIRON)) == f"sent {REDACTED} and {REDACTED}"
    assert redact("nothing here", ["", "s3cr3t"]) == "nothing here"
