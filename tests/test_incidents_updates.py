"""Update comments, the suspect pull request comment and the chat messages, golden-tested.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_incidents_updates.py
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guard.github.models import IssueRef
from guard.incidents.notices import Notices
from guard.incidents.render import render_issue
from guard.incidents.updates import COMMENT_LIMIT, UpdateDetails, UpdateKind, render_update
from tests.test_incidents_support import REPO, check_golden, watch_rollback_done

SECRET = "hunter2-but-longer"
DETAILS = UpdateDetails(
    at=datetime(2026, 11, 22, 14, 3, 10, tzinfo=UTC),
    target_ref="v1.3.2",
    link="https://guard.example.com/runs/78",
    time_to_detect_s=95,
    time_to_restore_s=432,
    code="INC-20261122-001",
)
TEXTS = {
    UpdateKind.REMEDY_DONE: "deployment 4243 of `9f8e7d6` was created; the pipeline ships it.",
    UpdateKind.REMEDY_FAILED: "GitHub refused the deployment (HTTP 409: required checks missing).",
    UpdateKind.REMEDY_VERIFIED: "the smoke checks and 40 watch rounds of deployment 4243 passed.",
    UpdateKind.REMEDY_VERIFICATION_FAILED: "health failed 3 rounds in a row on deployment 4243.",
    UpdateKind.SERVICE_RESTORED: "production answers normally again on `v1.3.2`.",
    UpdateKind.NOTE: "@mona allowed `abc1234` again with `/guard allow abc1234`.",
}
ISSUE = IssueRef(12, "[P1] production: ...", "open", "https://github.com/acme/shop/issues/12")


@pytest.mark.parametrize("kind", list(UpdateKind))
def test_update_comments_match_their_golden_files(kind: UpdateKind) -> None:
    body = render_update(REPO, 12, kind, TEXTS[kind], DETAILS)
    assert body.startswith(f"<!-- deploy-guard:update repo={REPO} issue=12 key={kind.value} -->")
    check_golden(f"update_{kind.value}.md", body, __file__)


def test_updates_without_details_still_read_well() -> None:
    body = render_update(REPO, 12, UpdateKind.SERVICE_RESTORED, "Restored.", UpdateDetails())
    assert "| unknown | unknown |" in body
    assert "More:" not in body
    assert "·" not in body.splitlines()[1]


def test_an_update_key_tells_two_updates_of_one_kind_apart() -> None:
    body = render_update(REPO, 12, UpdateKind.NOTE, "x", DETAILS, key="allow:abc1234")
    assert "key=allow:abc1234 -->" in body


def test_update_comments_redact_secrets_and_respect_the_limit() -> None:
    body = render_update(
        REPO, 12, UpdateKind.REMEDY_FAILED, f"token {SECRET} " * 10_000, DETAILS, secrets=[SECRET]
    )
    assert SECRET not in body
    assert len(body) <= COMMENT_LIMIT


def test_the_suspect_pull_request_comment_matches_its_golden_file() -> None:
    context = watch_rollback_done()
    comment = Notices([]).suspect_comment(context, ISSUE, context.suspects[:1], REPO)
    assert comment.startswith("<!-- deploy-guard:suspect repo=acme/shop deployment=4242 -->")
    check_golden("notice_suspect_pull.md", comment, __file__)


def test_chat_messages_match_their_golden_files() -> None:
    context = watch_rollback_done()
    notices = Notices([])
    opened = notices.opened(context, render_issue(context), ISSUE)
    check_golden("notice_slack_opened.txt", opened + "\n", __file__)
    update = notices.update(
        UpdateKind.REMEDY_DONE, TEXTS[UpdateKind.REMEDY_DONE], DETAILS, ISSUE.html_url
    )
    check_golden("notice_slack_update.txt", update + "\n", __file__)


def test_chat_messages_escape_slack_markup_and_redact() -> None:
    text = f"<!channel> & {SECRET} <https://evil.example|click>"
    message = Notices([SECRET]).update(UpdateKind.NOTE, text, UpdateDetails(), ISSUE.html_url)
    assert "<!channel>" not in message
    assert "&lt;!channel&gt; &amp; ***" in message
    assert SECRET not in message
    assert message.endswith(f"<{ISSUE.html_url}|Open the incident>")
