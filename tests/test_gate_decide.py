"""The gate's decision on its own: which rule holds, and the one sentence GitHub shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from guard.gate.decide import (
    ActiveFreeze,
    GateFacts,
    KnownBad,
    OpenIncident,
    Rule,
    decide,
)
from guard.policy.models import Gate

BERLIN = ZoneInfo("Europe/Berlin")
POLICY_PAGE = "https://github.com/octo-org/shop/blob/abc/.github/deploy-guard.yml"
INCIDENT = OpenIncident("INC-20261122-001", "P1", "https://github.com/octo-org/shop/issues/7")
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)


def gate(**values: object) -> Gate:
    return Gate.model_validate(values)


WEEKEND_GATE = gate(
    block_while_incident_open=True,
    freeze=[{"from": "Fri 16:00", "to": "Mon 08:00", "timezone": "Europe/Berlin"}],
)


def facts(**values: Any) -> GateFacts:
    base: dict[str, Any] = {
        "environment": "production",
        "gate": WEEKEND_GATE,
        "policy_url": POLICY_PAGE,
    }
    base.update(values)
    return GateFacts(**base)


def test_nothing_holding_it_back_approves_with_a_link() -> None:
    decision = decide(facts(), TUESDAY)

    assert (decision.state, decision.rule) == ("approved", Rule.CLEAR)
    assert decision.comment == (
        "Approved by deploy-guard: no open incident, freeze or known-bad commit holds "
        f"production back: {POLICY_PAGE}."
    )


def test_friday_15_59_passes_and_16_00_is_frozen() -> None:
    before = decide(facts(), datetime(2026, 11, 27, 15, 59, tzinfo=BERLIN))
    at = decide(facts(), datetime(2026, 11, 27, 16, 0, tzinfo=BERLIN))

    assert before.approved
    assert (at.state, at.rule) == ("rejected", Rule.FREEZE_WINDOW)
    assert at.comment == (
        "Rejected by deploy-guard: production is inside the freeze window "
        "Fri 16:00 -> Mon 08:00 (Europe/Berlin), which ends Mon 30 Nov 2026 08:00 CET: "
        f"{POLICY_PAGE}."
    )


def test_sunday_is_frozen_and_monday_07_59_too_but_not_08_00() -> None:
    assert decide(facts(), datetime(2026, 11, 29, 12, 0, tzinfo=BERLIN)).rule is Rule.FREEZE_WINDOW
    assert decide(facts(), datetime(2026, 11, 30, 7, 59, tzinfo=BERLIN)).rule is Rule.FREEZE_WINDOW
    assert decide(facts(), datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)).approved


def test_an_open_incident_rejects_with_the_incident_link() -> None:
    decision = decide(facts(open_incident=INCIDENT), TUESDAY)

    assert decision.rule is Rule.INCIDENT_OPEN
    assert decision.comment == (
        "Rejected by deploy-guard: incident INC-20261122-001 (P1) on production is still open, "
        "and the policy holds deployments until it is closed: "
        "https://github.com/octo-org/shop/issues/7."
    )


def test_an_open_incident_does_not_block_unless_the_policy_says_so() -> None:
    decision = decide(facts(gate=gate(), open_incident=INCIDENT), TUESDAY)

    assert decision.approved


def test_a_known_bad_commit_is_rejected_and_told_how_to_allow_it() -> None:
    bad = KnownBad("f" * 40, "smoke check home page failed", "https://guard.example/runs/3")

    decision = decide(facts(gate=None, known_bad=bad), TUESDAY)

    assert decision.rule is Rule.KNOWN_BAD_SHA
    assert "`/guard allow ffffffffffff`" in decision.comment
    assert decision.comment.endswith("https://guard.example/runs/3.")


def test_a_chatops_freeze_rejects_even_without_a_policy() -> None:
    until = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    frozen = ActiveFreeze("mona", until, "https://github.com/octo-org/shop/issues/7#c1")

    decision = decide(facts(gate=None, policy_url=None, freezes=(frozen,)), TUESDAY)

    assert decision.rule is Rule.CHATOPS_FREEZE
    assert decision.comment == (
        "Rejected by deploy-guard: mona froze production until Tue 24 Nov 2026 12:00 UTC; "
        "comment `/guard unfreeze production` to lift it: "
        "https://github.com/octo-org/shop/issues/7#c1."
    )


def test_of_several_freezes_the_one_without_an_end_is_shown() -> None:
    short = ActiveFreeze("mona", TUESDAY + timedelta(hours=1))
    open_ended = ActiveFreeze("hubot-admin", None)

    decision = decide(facts(freezes=(short, open_ended)), TUESDAY)

    assert "hubot-admin froze production until someone lifts the freeze" in decision.comment


def test_an_unreadable_policy_fails_closed() -> None:
    decision = decide(facts(gate=None, policy_problem="the policy is invalid: x"), TUESDAY)

    assert (decision.state, decision.rule) == ("rejected", Rule.POLICY_PROBLEM)


def test_a_window_mixing_kinds_fails_closed_with_how_to_fix_it() -> None:
    broken = gate(freeze=[{"from": "Fri 16:00", "to": "08:00"}])

    decision = decide(facts(gate=broken), TUESDAY)

    assert decision.rule is Rule.POLICY_PROBLEM
    assert "give both ends the same way" in decision.comment


def test_the_rules_apply_in_order_known_bad_first() -> None:
    bad = KnownBad("e" * 40)
    everything = facts(known_bad=bad, open_incident=INCIDENT, freezes=(ActiveFreeze("mona"),))

    decision = decide(everything, datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN))

    assert decision.rule is Rule.KNOWN_BAD_SHA
    assert "no reason recorded" in decision.comment


def test_the_guard_s_own_rollback_passes_incidents_and_freezes() -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN)
    held = facts(open_incident=INCIDENT, freezes=(ActiveFreeze("mona"),), rollback_of=500)

    decision = decide(held, saturday)

    assert (decision.state, decision.rule) == ("approved", Rule.ROLLBACK)
    assert "this is its own rollback of deployment 500" in decision.comment


def test_a_rollback_to_a_known_bad_commit_is_still_rejected() -> None:
    decision = decide(facts(rollback_of=500, known_bad=KnownBad("d" * 40)), TUESDAY)

    assert decision.rule is Rule.KNOWN_BAD_SHA
