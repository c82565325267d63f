"""How probe results word numbers and keep secrets and oversized bodies out."""

from __future__ import annotations

import pytest

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.probes.bodies import EVIDENCE_LIMIT, evidence_text
from guard.probes.expectations import same_json
from guard.probes.wording import format_latency, format_number, without_secrets


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.0004, "0 ms"), (0.12, "120 ms"), (0.9996, "1.0 s"), (2.5, "2.5 s"), (10, "10.0 s")],
)
def test_format_latency(seconds: float, words: str) -> None:
    assert format_latency(seconds) == words


@pytest.mark.parametrize(
    ("value", "words"),
    [(0.12, "0.12"), (float("nan"), "NaN"), (float("inf"), "+Inf"), (-float("inf"), "-Inf")],
)
def test_format_number(value: float, words: str) -> None:
    assert format_number(value) == words


@pytest.mark.parametrize(
    ("found", "expected", "same"),
    [
        (True, True, True),
        (1, True, False),
        (True, 1, False),
        (1, 1.0, True),
        ("ok", "ok", True),
        ([1, True], [1, True], True),
        ([1, 1], [1, True], False),
        ({"a": [False]}, {"a": [False]}, True),
        ({"a": 0}, {"a": False}, False),
        (None, None, True),
    ],
)
def test_json_equality_keeps_booleans_apart(found: object, expected: object, same: bool) -> None:
    assert same_json(found, expected) is same


def test_evidence_stays_within_64_kib_even_when_decoding_grows_it() -> None:
    # Each invalid byte becomes U+FFFD, three bytes in UTF-8.
    text = evidence_text(b"\xff" * (EVIDENCE_LIMIT + 10), "utf-8")
    assert 0 < len(text.encode()) <= EVIDENCE_LIMIT
    assert set(text) == {"\ufffd"}


def test_evidence_cuts_on_a_character_edge() -> None:
    text = evidence_text("é".encode() * EVIDENCE_LIMIT, "utf-8")
    assert len(text.encode()) == EVIDENCE_LIMIT
    assert set(text) == {"é"}


def test_without_secrets_redacts_every_text_field() -> None:
    secret = "hunter2-secret"
    result = ProbeResult(
        name="check",
        phase=Phase.SMOKE,
        status=ProbeStatus.FAIL,
        at=0.0,
        summary=f"x {secret}",
        detail=f"GET https://a/?k={secret} failed.",
        evidence=f"echo {secret}",
    )
    cleaned = without_secrets(result, [secret])
    assert secret not in repr(cleaned)
    assert cleaned.detail == "GET https://a/?k=*** failed."
