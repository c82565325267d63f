"""verify_signature accepts exactly GitHub's X-Hub-Signature-256 of the raw body, nothing else."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from guard.webhook_signature import sign, verify_signature

# GitHub's documented test vector (validating-webhook-deliveries).
DOCS_SECRET = b"It's a Secret to Everybody"
DOCS_BODY = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_reproduces_githubs_documented_vector() -> None:
    assert sign(DOCS_SECRET, DOCS_BODY) == DOCS_SIGNATURE


def test_the_documented_signature_verifies() -> None:
    assert verify_signature(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE) is True


def test_a_signature_in_capitals_verifies() -> None:
    digest = DOCS_SIGNATURE.removeprefix("sha256=")
    assert verify_signature(DOCS_SECRET, DOCS_BODY, "sha256=" + digest.upper()) is True


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        pytest.param(b"another secret", DOCS_BODY, DOCS_SIGNATURE, id="wrong secret"),
        pytest.param(DOCS_SECRET, b"Hello, World?", DOCS_SIGNATURE, id="changed body"),
        pytest.param(DOCS_SECRET, DOCS_BODY + b"\n", DOCS_SIGNATURE, id="body with a newline"),
        pytest.param(DOCS_SECRET, DOCS_BODY, None, id="missing header"),
        pytest.param(DOCS_SECRET, DOCS_BODY, "", id="empty header"),
        pytest.param(
            DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE.removeprefix("sha256="), id="no prefix"
        ),
        pytest.param(DOCS_SECRET, DOCS_BODY, "SHA256=" + DOCS_SIGNATURE[7:], id="prefix case"),
        pytest.param(DOCS_SECRET, DOCS_BODY, " " + DOCS_SIGNATURE, id="leading space"),
        pytest.param(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE[:-1], id="truncated"),
        pytest.param(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE + "00", id="too long"),
        pytest.param(DOCS_SECRET, DOCS_BODY, "sha256=" + "z" * 64, id="not hex"),
        pytest.param(DOCS_SECRET, DOCS_BODY, "sha256=", id="prefix only"),
        pytest.param(
            DOCS_SECRET,
            DOCS_BODY,
            "sha1=" + hmac.new(DOCS_SECRET, DOCS_BODY, hashlib.sha1).hexdigest(),
            id="legacy sha1 signature",
        ),
    ],
)
def test_anything_else_is_refused(secret: bytes, body: bytes, header: str | None) -> None:
    assert verify_signature(secret, body, header) is False


def test_an_empty_secret_verifies_nothing() -> None:
    # Even a header computed with the empty key: a service missing its secret accepts nothing.
    assert verify_signature(b"", DOCS_BODY, sign(b"", DOCS_BODY)) is False


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def recording_compare(a: str, b: str) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)

    assert verify_signature(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE) is True
    assert verify_signature(DOCS_SECRET, b"forged", DOCS_SIGNATURE) is False
    assert len(compared) == 2
