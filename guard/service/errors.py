"""Every answer the service gives is a small JSON body with `status` and `reason`, errors too."""

from __future__ import annotations

from typing import Final

from flask import Flask, Response, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from guard.observability.logs import error_summary, get_logger

log = get_logger(__name__)

# GitHub never delivers more than 25 MB (payload cap), so anything larger is not GitHub.
MAX_BODY_BYTES: Final = 25 * 1024 * 1024
TOO_LARGE: Final = "the body is over 25 MB, the most GitHub ever delivers"
# Deliberately says nothing about the cause: that is in the logs, not for the caller.
SERVER_FAULT: Final = "the guard failed while handling this request; the fault is logged"
DATABASE_DOWN: Final = "the guard's database is not answering; try again later"


def answer(http_status: int, status: str, reason: str) -> tuple[Response, int]:
    """The JSON answer {"status": ..., "reason": ...} with its HTTP status."""
    return jsonify(status=status, reason=reason), http_status


def register_error_handlers(app: Flask) -> None:
    """Turn Flask's and werkzeug's errors into JSON answers; never a traceback to a caller."""

    @app.errorhandler(413)
    def too_large(_error: HTTPException) -> tuple[Response, int]:
        return answer(413, "rejected", TOO_LARGE)

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError) -> tuple[Response, int]:
        log.error("service.database_unavailable", error=error_summary(error))
        return answer(503, "unavailable", DATABASE_DOWN)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        code = error.code or 500
        if code >= 500:
            return answer(code, "error", SERVER_FAULT)
        return answer(code, "rejected", error.description or error.name)

    @app.errorhandler(InternalServerError)
    def server_fault(_error: InternalServerError) -> tuple[Response, int]:
        # Flask has logged the exception with its traceback (app.log_exception) already.
        return answer(500, "error", SERVER_FAULT)
