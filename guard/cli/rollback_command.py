"""`deploy-guard rollback`: undo an environment's newest deployment by hand, the guard's own way.

The same code path as an automatic remedy (plan, guards, one claim per deployment, the
strategy), with a person's choices on top: `--to REF` instead of the last verified-good ref,
`--strategy` instead of the policy's, `--dry-run` to see what it would do.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, get_args

import click

from guard.policy.models import RollbackStrategy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from guard.github.client import GitHubClient
    from guard.github.models import DeploymentRef
    from guard.policy.models import Rollback
    from guard.settings import Settings

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
NOT_A_REPO = "--repo: {repo!r} is not a repository as owner/name (example: octo-org/shop)"
NOT_MIGRATED = (
    "{url}: the database schema is not the newest ({found}); run `deploy-guard db upgrade` first"
)
NO_INSTALLATION = (
    "cannot tell which installation of the GitHub App covers {repo}: the guard has no record of "
    "it; pass --installation-id"
)
NO_DEPLOYMENT = "{repo} has no deployment to {environment}: there is nothing to roll back"
BAD_POLICY = "the policy of {repo} cannot be used: {error}"
BAD_STRATEGY = "--strategy {strategy}: {error}"
SUBJECT = "Deployment {id} of {ref} ({sha}) to {environment}, the newest:"
GITHUB_REFUSED = "GitHub refused the guard's credentials: {error}"
GITHUB_FAILED = "GitHub: {error}; nothing was claimed or changed by this run"


class UsageProblem(click.ClickException):
    """A usage or settings problem: one line, exit 2 (click's own usage errors exit 2 too)."""

    exit_code = EXIT_USAGE


@click.command()
@click.option("--repo", required=True, help="The repository, as owner/name.")
@click.option("--environment", "-e", required=True, help="The environment to roll back.")
@click.option("--to", "to_ref", help="Roll back to this ref (tag, branch or SHA) instead.")
@click.option(
    "--strategy",
    type=click.Choice(get_args(RollbackStrategy)),
    help="How to roll back (default: the policy's, else redeploy).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be done, and do nothing.")
@click.option(
    "--installation-id",
    type=int,
    help="The GitHub App's installation on the repository (default: from the guard's records).",
)
@click.option(
    "--github-pacing/--no-github-pacing",
    default=True,
    hidden=True,
    help="Pace GitHub calls as GitHub asks (off only for tests against the sandbox).",
)
def rollback(  # noqa: PLR0917 - click passes every option as an argument
    repo: str,
    environment: str,
    to_ref: str | None,
    strategy: str | None,
    dry_run: bool,
    installation_id: int | None,
    github_pacing: bool,
) -> None:
    """Undo the newest deployment of an environment, as the guard would.

    Exit 0 done (or described, with --dry-run), 1 refused or failed, 2 usage or settings error.
    """
    from guard.remedies import FailedDeployment, RemedyContext, RemedyRequest, execute_remedy
    from guard.remedies.messages import MANUAL_REASON
    from guard.remedies.revert_pr import git_url_for
    from guard.settings import SettingsError, load_settings
    from guard.store import make_engine, make_session_factory

    if not _REPO.match(repo):
        raise UsageProblem(NOT_A_REPO.format(repo=repo))
    try:
        settings = load_settings(require_webhook_secret=False)
    except SettingsError as error:
        raise UsageProblem(str(error)) from None
    from guard.github.errors import GitHubError

    engine = make_engine(settings.database_url)
    try:
        _check_schema(engine, settings)
        sessions = make_session_factory(engine)
        installation = _installation(settings, sessions, repo, installation_id)
        github = _client(settings, installation, github_pacing)
        try:
            newest = _newest(github, repo, environment)
            request = RemedyRequest(
                repo=repo,
                failed=FailedDeployment.from_github(newest, github.own_identity, installation),
                rollback=_rollback(github, repo, environment, newest.sha, strategy),
                reasons=(MANUAL_REASON,),
                dry_run=dry_run or settings.dry_run,
                to_ref=to_ref,
                manual=True,
            )
            context = RemedyContext(
                github=github, sessions=sessions, git_url=git_url_for(settings.github_api_url)
            )
            click.echo(
                SUBJECT.format(
                    id=newest.id, ref=newest.ref, sha=newest.sha[:7], environment=environment
                )
            )
            outcome = execute_remedy(context, request)
        except GitHubError as error:
            if error.status == 401:
                # The credentials themselves are wrong: a settings problem, said in one line.
                raise UsageProblem(GITHUB_REFUSED.format(error=error.message)) from None
            click.echo(GITHUB_FAILED.format(error=error.message))
            sys.exit(EXIT_FAILED)
        finally:
            github.close()
    finally:
        engine.dispose()
    click.echo(outcome.message)
    sys.exit(EXIT_DONE if outcome.succeeded else EXIT_FAILED)


def _check_schema(engine: Engine, settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from guard.settings import redact_url
    from guard.store import current_revision, head_revision

    url = redact_url(settings.database_url)
    try:
        with engine.connect() as connection:
            found = current_revision(connection)
    except SQLAlchemyError as error:
        raise UsageProblem(f"{url}: {str(error).splitlines()[0]}") from None
    if found != head_revision():
        raise UsageProblem(NOT_MIGRATED.format(url=url, found=found or "empty"))


def _installation(
    settings: Settings, sessions: sessionmaker[Session], repo: str, given: int | None
) -> int | None:
    """The App's installation: given, or the one the guard last saw act on the repository."""
    if given is not None or settings.github_auth_mode != "app":
        return given
    import sqlalchemy as sa

    from guard.store import Deployment, Installation

    with sessions() as session:
        seen = session.scalar(
            sa.select(Deployment.installation_id)
            .where(Deployment.repository == repo, Deployment.installation_id.is_not(None))
            .order_by(Deployment.github_id.desc())
            .limit(1)
        )
        if seen is None:
            owner = repo.split("/", 1)[0]
            seen = session.scalar(
                sa.select(Installation.id)
                .where(Installation.account_login == owner, Installation.active.is_(True))
                .limit(1)
            )
    if seen is None:
        raise UsageProblem(NO_INSTALLATION.format(repo=repo))
    return int(seen)


def _client(settings: Settings, installation: int | None, paced: bool) -> GitHubClient:
    from guard.github.auth import auth_from_settings
    from guard.github.client import GitHubClient

    token = settings.github_token.get_secret_value() if settings.github_token else None
    try:
        auth = auth_from_settings(
            app_id=settings.github_app_id,
            private_key=settings.github_private_key(),
            token=token,
            api_url=settings.github_api_url,
        )
    except ValueError as error:
        raise UsageProblem(str(error)) from None
    return GitHubClient(
        auth,
        settings.github_api_url,
        installation_id=installation,
        seconds_between_requests=0.25 if paced else None,
        seconds_between_writes=1.0 if paced else None,
    )


def _newest(github: GitHubClient, repo: str, environment: str) -> DeploymentRef:
    deployments = github.list_deployments(repo, environment)
    if not deployments:
        click.echo(NO_DEPLOYMENT.format(repo=repo, environment=environment))
        sys.exit(EXIT_FAILED)
    return deployments[0]


def _rollback(
    github: GitHubClient, repo: str, environment: str, sha: str, strategy: str | None
) -> Rollback:
    """The policy's rollback settings for the environment, with --strategy on top."""
    from pydantic import ValidationError

    from guard.jobs.policy_source import PolicyFound, PolicyInvalid, read_policy
    from guard.policy.models import Rollback

    found = read_policy(github, repo, sha)
    if isinstance(found, PolicyInvalid):
        first = str(found.error).splitlines()[0]
        raise UsageProblem(BAD_POLICY.format(repo=repo, error=first))
    settings = Rollback()
    if isinstance(found, PolicyFound) and environment in found.policy.environments:
        settings = found.policy.environments[environment].on_failure.rollback
    if strategy is None or strategy == settings.strategy:
        return settings
    try:
        return Rollback.model_validate({**settings.model_dump(), "strategy": strategy})
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise UsageProblem(BAD_STRATEGY.format(strategy=strategy, error=problem)) from None
