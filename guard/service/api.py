"""`/api/v1/verifications`: a pipeline starts and reads verifications, proven by its OIDC token.

    POST /api/v1/verifications      {environment, deployment_id?, url?, sha?, ref?}  -> 202
    GET  /api/v1/verifications/<id>                                                  -> 200
    GET  /api/openapi.json

The token names the repository (by `repository_id`, checked against GitHub); a call may only
touch that repository. Without a deployment id, the environment's newest deployment of the
token's commit is used, or a GitHub deployment is created for it through the port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, NoReturn

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from guard.github.client import GitHubClient
from guard.github.client_permissions import permission_port
from guard.github.errors import ErrorKind, GitHubError
from guard.github.oidc import OidcError, OidcVerifier, WorkflowIdentity
from guard.incidents.suspects import web_url_for_api
from guard.observability.logs import get_logger
from guard.service import api_verifications as records
from guard.service.api_body import VerificationRequest, describe_errors
from guard.service.openapi_spec import openapi_document
from guard.service.state import EXTENSION_KEY, ServiceState, service_state
from guard.store import Deployment, make_session_factory

API_EXTENSION: Final = "deploy_guard_api"
# How long GitHub's answer to "which repository is this name" is trusted.
REPOSITORY_ID_TTL_S: Final = 600.0
# Ids are 64-bit in the database; a larger number names nothing.
MAX_ID: Final = 2**63 - 1

NO_CREDENTIALS: Final = "send the job's OIDC token as Authorization: Bearer <token>"
NOT_CONFIGURED: Final = (
    "the guard's API is off: set GUARD_OIDC_AUDIENCE (and GUARD_OIDC_ALLOWED_OWNERS)"
)
NO_INSTALLATION: Final = (
    "the deploy-guard App is not installed for {owner}, or the guard has not heard of it yet"
)
NOT_JSON: Final = "the body must be a JSON object (Content-Type: application/json)"
NOT_FOUND: Final = "no verification {id} of {repository}"
NO_SUCH_DEPLOYMENT: Final = "{repository} has no deployment {id} to {environment}"
OTHER_ENVIRONMENT: Final = "deployment {id} is to {actual}, not {asked}"
NO_SHA: Final = "say which commit: the token carries no sha claim, so give sha"
GITHUB_REFUSED: Final = "GitHub refused: {message}"
GITHUB_DOWN: Final = "GitHub is not answering the guard right now; try again shortly"
QUEUE_DOWN: Final = "the guard's job queue did not take the verification; try again shortly"

blueprint = Blueprint("api", __name__)
log = get_logger(__name__)


class ApiProblem(Exception):  # noqa: N818 - an answer, not a failure of ours
    """An answer other than success: status, a stable code and a sentence."""

    def __init__(self, http_status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.error = error
        self.reason = reason


_STATUS_WORDS: Final = {
    400: "rejected",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "rejected",
    415: "rejected",
    502: "unavailable",
    503: "unavailable",
}


@dataclass
class ApiResources:
    """What the API uses besides the service's state: the token verifier, GitHub, a clock."""

    verifier: OidcVerifier | None
    github: Callable[[int | None], GitHubClient]
    # Sessions that only read: on SQLite they never take the write lock the workers need.
    readers: sessionmaker[Session]
    clock: Callable[[], float] = time.time
    _repository_ids: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached_repository_id(self, repository: str) -> int | None:
        with self._lock:
            entry = self._repository_ids.get(repository.lower())
        return entry[0] if entry is not None and entry[1] > self.clock() else None

    def remember_repository_id(self, repository: str, repository_id: int) -> None:
        with self._lock:
            self._repository_ids[repository.lower()] = (
                repository_id,
                self.clock() + REPOSITORY_ID_TTL_S,
            )


_RESOURCES_LOCK = threading.Lock()


def configure_api(
    app: Flask,
    *,
    verifier: OidcVerifier | None = None,
    github: Callable[[int | None], GitHubClient] | None = None,
    clock: Callable[[], float] = time.time,
) -> ApiResources:
    """Give the app's API its verifier and GitHub access (defaults: from the settings)."""
    state: ServiceState = app.extensions[EXTENSION_KEY]
    settings = state.settings
    if verifier is None and settings.oidc_audience:
        verifier = OidcVerifier(
            settings.oidc_issuer,
            audience=settings.oidc_audience,
            allowed_owners=settings.oidc_allowed_owners,
            clock=clock,
        )
    if github is None:
        from guard.jobs.context import github_factory
        from guard.jobs.options import WorkerOptions

        github = github_factory(settings, WorkerOptions())
    resources = ApiResources(
        verifier, github, make_session_factory(state.engine, read_only=True), clock
    )
    app.extensions[API_EXTENSION] = resources
    return resources


def _resources() -> ApiResources:
    with _RESOURCES_LOCK:
        found = current_app.extensions.get(API_EXTENSION)
        if not isinstance(found, ApiResources):
            found = configure_api(current_app)
        return found


def _answer(http_status: int, error: str, reason: str) -> tuple[Response, int]:
    body = jsonify(status=_STATUS_WORDS.get(http_status, "rejected"), error=error, reason=reason)
    return body, http_status


@blueprint.errorhandler(ApiProblem)
def _problem(problem: ApiProblem) -> tuple[Response, int]:
    response, status = _answer(problem.http_status, problem.error, problem.reason)
    if status == 401:
        # RFC 6750; the sentence is in the body only (a header must stay ASCII).
        challenge = 'Bearer realm="deploy-guard"'
        if problem.error != "missing_token":
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response, status


def _fail(http_status: int, error: str, reason: str) -> NoReturn:
    raise ApiProblem(http_status, error, reason)


def _authenticate(resources: ApiResources) -> WorkflowIdentity:
    if resources.verifier is None:
        _fail(503, "not_configured", NOT_CONFIGURED)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _fail(401, "missing_token", NO_CREDENTIALS)
    try:
        identity = resources.verifier.verify(token.strip())
    except OidcError as error:
        log.warning("api.token_refused", error=error.reason)
        _fail(error.http_status, error.reason, error.message)
    return identity


def _github_problem(error: GitHubError) -> NoReturn:
    log.warning("api.github_failed", error=error.message)
    if error.kind is ErrorKind.RETRY:
        _fail(503, "github_unavailable", GITHUB_DOWN)
    if error.kind is ErrorKind.NOT_FOUND:
        _fail(403, "repository_not_visible", GITHUB_REFUSED.format(message=error.message))
    if error.kind is ErrorKind.REFUSED:
        _fail(409, "github_refused", GITHUB_REFUSED.format(message=error.message))
    _fail(502, "github_failed", GITHUB_REFUSED.format(message=error.message))


@dataclass(frozen=True)
class Caller:
    """A verified token, the installation that acts for its repository, and GitHub through it."""

    identity: WorkflowIdentity
    installation_id: int | None
    github: GitHubClient


def _caller(state: ServiceState, resources: ApiResources) -> Caller:
    """Authenticate, find the installation, and check the repository is the token's by id."""
    identity = _authenticate(resources)
    with resources.readers() as session:
        installation = records.installation_for(session, identity.repository, identity.owner)
    if installation is None and state.settings.github_auth_mode == "app":
        _fail(403, "not_installed", NO_INSTALLATION.format(owner=identity.owner))
    github = resources.github(installation)
    try:
        known = resources.cached_repository_id(identity.repository)
        if known is None:
            known = permission_port(github).repository_id(identity.repository)
            resources.remember_repository_id(identity.repository, known)
        identity.require_repository_id(known)
    except GitHubError as error:
        github.close()
        _github_problem(error)
    except OidcError as error:
        github.close()
        _fail(error.http_status, error.reason, error.message)
    return Caller(identity, installation, github)


def _body() -> VerificationRequest:
    if not request.is_json:
        _fail(415, "not_json", NOT_JSON)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        _fail(400, "not_json", NOT_JSON)
    try:
        return VerificationRequest.model_validate(data)
    except ValidationError as error:
        _fail(400, "invalid_body", describe_errors(error))


def _subject(
    caller: Caller, body: VerificationRequest, known: Deployment | None
) -> records.Subject:
    """The deployment to verify: recorded already, found on GitHub, or made for the run."""
    identity = caller.identity
    repository = identity.repository
    if known is not None:
        return records.Subject(
            repository=known.repository,
            github_id=known.github_id,
            environment=known.environment,
            sha=known.sha,
            ref=known.ref,
            created_at=known.created_at,
            installation_id=caller.installation_id,
            environment_url=body.url,
            creator=known.creator,
        )
    run = f"{identity.run_id or '?'}/{identity.run_attempt or '1'}"
    if body.deployment_id is not None:
        found = records.deployment_on_github(
            caller.github, repository, body.environment, body.deployment_id
        )
        if found is None:
            reason = NO_SUCH_DEPLOYMENT.format(
                repository=repository, id=body.deployment_id, environment=body.environment
            )
            _fail(404, "deployment_not_found", reason)
    else:
        sha = body.sha or identity.sha
        if sha is None:
            _fail(400, "no_sha", NO_SHA)
        found = records.find_or_create_deployment(
            caller.github, repository, body.environment, sha, run
        )
    return records.Subject(
        repository=repository,
        github_id=found.id,
        environment=found.environment,
        sha=found.sha,
        ref=body.ref or identity.ref or found.ref,
        created_at=found.created_at,
        installation_id=caller.installation_id,
        environment_url=body.url,
        creator=found.creator_login,
    )


def _run_url(verification_id: int) -> str | None:
    base = service_state().settings.public_url
    return f"{base}/runs/{verification_id}" if base else None


@blueprint.post("/api/v1/verifications")
def start_verification() -> tuple[Response, int]:
    state, resources = service_state(), _resources()
    caller = _caller(state, resources)
    try:
        body = _body()
        known = None
        if body.deployment_id is not None:
            with resources.readers() as session:
                known = records.known_deployment(
                    session, caller.identity.repository, body.deployment_id
                )
            if known is not None and known.environment != body.environment:
                reason = OTHER_ENVIRONMENT.format(
                    id=body.deployment_id, actual=known.environment, asked=body.environment
                )
                _fail(409, "other_environment", reason)
        try:
            subject = _subject(caller, body, known)
        except GitHubError as error:
            _github_problem(error)
    finally:
        caller.github.close()
    now = datetime.fromtimestamp(resources.clock(), UTC)
    identity = caller.identity
    with state.sessions.begin() as session:
        verification = records.start_verification(
            session,
            subject,
            actor=identity.actor or identity.repository,
            run=identity.run_id or "?",
            now=now,
        )
        verification_id, state_value = verification.id, verification.state.value
    try:
        state.queue.enqueue_verification(subject.github_id)
    except Exception as error:
        log.exception("api.enqueue_failed", error=type(error).__name__)
        _fail(503, "queue_unavailable", QUEUE_DOWN)
    log.info("api.verification_started", verification=verification_id, deployment=subject.github_id)
    return jsonify(
        id=verification_id,
        state=state_value,
        deployment_id=subject.github_id,
        environment=subject.environment,
        links={
            "self": url_for(
                "api.get_verification", verification_id=verification_id, _external=True
            ),
            "run": _run_url(verification_id),
        },
    ), 202


@blueprint.get("/api/v1/verifications/<verification_id>")
def get_verification(verification_id: str) -> tuple[Response, int]:
    state, resources = service_state(), _resources()
    caller = _caller(state, resources)
    caller.github.close()
    repository = caller.identity.repository
    missing = NOT_FOUND.format(id=verification_id, repository=repository)
    # Anything but a positive 64-bit number names no verification (and must not reach SQL).
    if not verification_id.isascii() or not verification_id.isdigit():
        _fail(404, "not_found", missing)
    number = int(verification_id)
    if not 1 <= number <= MAX_ID:
        _fail(404, "not_found", missing)
    with resources.readers() as session:
        found = records.verification_of(session, number, repository)
        if found is None:
            _fail(404, "not_found", missing)
        body = records.verification_json(
            session,
            *found,
            self_url=request.base_url,
            run_url=_run_url,
            web_url=web_url_for_api(state.settings.github_api_url),
        )
    return jsonify(body), 200


@blueprint.get("/api/openapi.json")
def openapi() -> tuple[Response, int]:
    return jsonify(openapi_document()), 200
