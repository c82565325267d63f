"""`/healthz` (the process lives), `/readyz` (database and queue answer) and `/metrics`."""

from __future__ import annotations

from typing import Final, cast

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify
from sqlalchemy.engine import Engine

from guard.handlers import JobQueue
from guard.observability.logs import error_summary, get_logger
from guard.observability.metrics import render_metrics
from guard.service.state import service_state
from guard.store.engine import READ_ONLY
from guard.store.models import Delivery, DeliveryOutcome

ALIVE: Final = "the process is running"
READY: Final = "the database and the job queue answer"
NOT_READY: Final = "not ready: {down}"
DOWN: Final = "the {name} is not answering"
QUEUED_GAUGE: Final = "deploy_guard_deliveries_queued"
DELIVERIES: Final = cast("sa.Table", Delivery.__table__)

blueprint = Blueprint("health", __name__)
log = get_logger(__name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok", reason=ALIVE), 200


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    state = service_state()
    checks = {
        "database": _database_answers(state.engine),
        "queue": _queue_answers(state.queue),
    }
    body = {name: "ok" if fine else "down" for name, fine in checks.items()}
    down = [name for name, fine in checks.items() if not fine]
    if not down:
        return jsonify(status="ready", reason=READY, **body), 200
    reason = NOT_READY.format(down="; ".join(DOWN.format(name=name) for name in down))
    return jsonify(status="unavailable", reason=reason, **body), 503


@blueprint.get("/metrics")
def metrics() -> Response:
    text, content_type = render_metrics()
    return Response(
        text + _queued_deliveries(service_state().engine), 200, content_type=content_type
    )


def _queued_deliveries(engine: Engine) -> bytes:
    """The gauge of deliveries waiting for the dispatcher, counted in the database at scrape
    time (so every worker process and replica reports the same, true number).

    Nothing when the database does not answer: /readyz says so, /metrics still serves.
    """
    statement = (
        sa.select(sa.func.count())
        .select_from(DELIVERIES)
        .where(DELIVERIES.c.outcome == DeliveryOutcome.QUEUED)
    )
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
            waiting = int(connection.execute(statement).scalar_one())
    except Exception as error:
        log.warning("metrics.queued_deliveries_unknown", error=error_summary(error))
        return b""
    return (
        f"# HELP {QUEUED_GAUGE} Webhook deliveries recorded and waiting for their handler.\n"
        f"# TYPE {QUEUED_GAUGE} gauge\n"
        f"{QUEUED_GAUGE} {waiting}\n"
    ).encode()


def _database_answers(engine: Engine) -> bool:
    """`SELECT 1` on a pooled connection, below SQLAlchemy's transaction events.

    The raw DBAPI connection keeps SQLite from starting BEGIN IMMEDIATE, so a probe never
    waits behind (or holds up) a writer.
    """
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchall()
            finally:
                cursor.close()
        finally:
            connection.close()
    except Exception as error:
        log.warning("readyz.database_down", error=error_summary(error))
        return False
    return True


def _queue_answers(queue: JobQueue) -> bool:
    try:
        answers = queue.ping()
    except Exception as error:
        log.warning("readyz.queue_down", error=error_summary(error))
        return False
    if not answers:
        log.warning("readyz.queue_down", error="the queue did not answer its ping")
    return answers
