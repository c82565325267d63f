"""The sandbox's Flask app: auth, rate limits, faults, call log and conformance round each route."""

from __future__ import annotations

import functools
import json
import secrets
import time
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from guard.sandbox import (
    git_http,
    routes_apps,
    routes_checks,
    routes_control,
    routes_deployments,
    routes_git,
    routes_graphql,
    routes_hook_deliveries,
    routes_issues,
    routes_lists,
    routes_repos,
)
from guard.sandbox.auth import authenticate
from guard.sandbox.calllog import classify
from guard.sandbox.errors import DOCS, ApiError
from guard.sandbox.faults import Fault, FaultKind
from guard.sandbox.ratelimit import RateInfo
from guard.sandbox.runtime import (
    EXTENSION_KEY,
    SandboxRuntime,
    caller,
    current,
    rate_key,
    respond,
)
from guard.sandbox.violations import CONTROL_PREFIX, Violation

SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
# GET /rate_limit does not count against the primary limit (github-facts.md section 6).
UNCOUNTED_PATHS = {"/rate_limit"}


def create_app(runtime: SandboxRuntime) -> Flask:
    """A Flask app serving GitHub's REST subset and the /_sandbox control API for one runtime."""
    app = Flask("guard.sandbox")
    app.extensions[EXTENSION_KEY] = runtime
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for module in (
        routes_apps,
        routes_hook_deliveries,
        routes_repos,
        routes_git,
        routes_deployments,
        routes_issues,
        routes_lists,
        routes_checks,
        routes_control,
        routes_graphql,
        git_http,
    ):
        app.register_blueprint(module.blueprint)
    # One handler at a time touches state and git refs: simple and race-free, and each handler
    # takes milliseconds. Faults (latency, holds) run before this lock, so they overlap freely.
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = _serialized(runtime, view)
    app.before_request(runtime.request_started)
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(lambda _error: runtime.request_finished())
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


def _serialized(runtime: SandboxRuntime, view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with runtime.state.lock:
            return view(*args, **kwargs)

    return locked


def _request_id() -> str:
    """Looks like GitHub's X-GitHub-Request-Id: colon-separated upper-case hex groups."""
    return ":".join(secrets.token_hex(n).upper() for n in (2, 2, 3, 3, 4))


def _before() -> Response | None:
    g.started = time.perf_counter()
    g.request_id = _request_id()
    runtime = current()
    if request.path.startswith(CONTROL_PREFIX):
        token = runtime.config.control_token
        if token and request.headers.get("X-Sandbox-Control-Token") != token:
            raise ApiError(401, "Bad sandbox control token")
        return None
    plan = runtime.faults.plan(request.method, request.path)
    if plan.latency_ms:
        # Server-side latency for benchmarks; a test never waits on it for timing.
        time.sleep(plan.latency_ms / 1000)
    g.fault = plan.fault
    # Git over HTTP authenticates with basic auth and, as on GitHub, spends no REST rate limit.
    git = git_http.is_git_path(request.path)
    who = git_http.git_principal if git else authenticate
    g.principal = who(request.headers.get("Authorization"), runtime.state, runtime.clock)
    rate = runtime.rate.hit(rate_key(), count=not git and request.path not in UNCOUNTED_PATHS)
    g.rate = rate
    fault = plan.fault
    if fault is not None:
        answer = _fault_answer(fault)
        if answer is not None:
            return answer
    if rate.exhausted and not git:
        g.rate_limited = True
        raise ApiError(403, _primary_limit_message(), documentation_url=RATE_LIMIT_DOCS)
    return None


def _primary_limit_message() -> str:
    principal = caller()
    if principal.kind == "installation":
        return f"API rate limit exceeded for installation ID {principal.installation_id}."
    if principal.kind == "anonymous":
        return f"API rate limit exceeded for {request.remote_addr}."
    return f"API rate limit exceeded for {principal.label}."


def _fault_answer(fault: Fault) -> Response | None:
    runtime = current()
    if fault.kind is FaultKind.TIMEOUT:
        # Hold the answer past the client's timeout; once released the call goes through, as a
        # real GitHub may finish work whose answer the client never saw.
        runtime.faults.hold(fault)
        return None
    if fault.kind is FaultKind.SERVER_ERROR:
        return respond(ApiError(fault.status, "Server Error").body(), fault.status)
    if fault.kind is FaultKind.SECONDARY_RATE_LIMIT:
        message = SECONDARY_LIMIT_MESSAGE.format(request_id=g.request_id)
        body = ApiError(403, message, documentation_url=RATE_LIMIT_DOCS).body()
        return respond(body, 403, {"Retry-After": str(fault.retry_after)})
    if fault.kind is FaultKind.PRIMARY_RATE_LIMIT:
        g.rate = RateInfo(
            limit=g.rate.limit,
            remaining=0,
            used=g.rate.limit,
            reset=int(runtime.clock.now()) + fault.reset_after,
        )
        body = ApiError(403, _primary_limit_message(), documentation_url=RATE_LIMIT_DOCS).body()
        return respond(body, 403)
    return None


def _after(response: Response) -> Response:
    if request.path.startswith(CONTROL_PREFIX):
        return response
    runtime = current()
    response.headers["X-GitHub-Request-Id"] = g.get("request_id", "")
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
    git = git_http.is_git_path(request.path)
    rate = g.get("rate")
    if rate is not None and not git:
        for name, value in rate.headers().items():
            response.headers[name] = value
    fault: Fault | None = g.get("fault")
    if fault is not None and fault.kind is FaultKind.DROP_FIELD and fault.field_name:
        _drop_field(response, fault.field_name)
    if runtime.checker is not None and not git and not routes_graphql.is_graphql_path(request.path):
        # Git's protocol and GraphQL are not part of the REST description.
        _check(runtime, response)
    principal = caller()
    token = principal.token.token if principal.token else request.headers.get("Authorization", "")
    runtime.calls.record(
        method=request.method,
        path=request.path,
        query=request.query_string.decode(),
        status=response.status_code,
        outcome=classify(
            response.status_code,
            str(fault.kind) if fault is not None and fault.kind is not FaultKind.LATENCY else None,
            bool(g.get("rate_limited")),
        ),
        auth=principal.label,
        token_hint=token[-4:] if token else "",
        request_id=g.get("request_id", ""),
        duration_ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 3),
    )
    if runtime.config.autosave and request.method != "GET" and response.status_code < 400:
        runtime.save()
    return response


def _drop_field(response: Response, field: str) -> None:
    """Break the answer on purpose (a fault), to prove the conformance check notices."""
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, dict):
            item.pop(field, None)
    response.set_data(json.dumps(body))


def _check(runtime: SandboxRuntime, response: Response) -> None:
    """Strict mode: record where the client's request or this answer breaks the description."""
    assert runtime.checker is not None
    found = {
        "request": runtime.checker.check_request(
            request.method,
            request.path,
            query=list(request.args.items(multi=True)),
            body=request.get_data(cache=True),
            content_type=request.content_type or "",
        ),
        "response": runtime.checker.check_response(
            request.method,
            request.path,
            response.status_code,
            headers=dict(response.headers),
            body=response.get_data(),
            content_type=response.content_type or "",
        ),
    }
    for kind, problems in found.items():
        for problem in problems:
            runtime.violations.add(
                Violation(request.method, request.path, response.status_code, problem, kind)
            )


def _api_error(error: ApiError) -> Response:
    return respond(error.body(), error.status, error.headers)


def _http_error(error: HTTPException) -> Response:
    # Unknown paths and methods: GitHub answers its JSON 404 for both.
    status = 404 if error.code in {404, 405} else (error.code or 500)
    message = "Not Found" if status == 404 else (error.description or "Error")
    return respond({"message": message, "documentation_url": DOCS, "status": str(status)}, status)


def _crash(error: Exception) -> Response:
    current().crashes.append("".join(traceback.format_exception(error)))
    return respond({"message": "Server Error", "documentation_url": DOCS, "status": "500"}, 500)
