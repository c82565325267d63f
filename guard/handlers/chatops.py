"""`issue_comment` created: a `/guard` command on an issue or pull request is run after.

Bots' comments (the guard's own replies among them) are never read as commands; edits are
not routed here at all (only `created` is), so editing a comment never runs it again.
"""

from __future__ import annotations

from guard.chatops.parse import command_line
from guard.chatops.replies import REPLY_MARKER
from guard.chatops.run import CommandRequest
from guard.events import Account, IssueCommentCreated
from guard.gate.background import follow_up
from guard.handlers.context import HandlerContext, HandlerResult, accepted, ignored

BY_A_BOT = "comments by bots ({login}) are not read as commands"
NO_COMMAND = "the comment holds no /guard command"
QUEUED = "/guard command by {login} on #{number} is being run"


def is_bot(account: Account) -> bool:
    """An App's or a machine account: GitHub marks them `Bot` and names them `name[bot]`."""
    return (account.type or "").lower() == "bot" or account.login.lower().endswith("[bot]")


def on_issue_comment(ctx: HandlerContext[IssueCommentCreated]) -> HandlerResult:
    event = ctx.event
    comment = event.comment
    if is_bot(comment.user) or is_bot(event.sender) or REPLY_MARKER in comment.body:
        return ignored(BY_A_BOT.format(login=comment.user.login))
    if command_line(comment.body) is None:
        return ignored(NO_COMMAND)
    request = CommandRequest(
        repository=event.repository.full_name,
        issue_number=event.issue.number,
        comment_id=comment.id,
        comment_url=comment.html_url,
        body=comment.body,
        login=comment.user.login,
        installation_id=event.installation_id,
    )
    durable = follow_up(ctx, request.work())
    ctx.log.info(
        "chatops.received", issue=event.issue.number, login=comment.user.login, durable=durable
    )
    return accepted(QUEUED.format(login=comment.user.login, number=event.issue.number))
