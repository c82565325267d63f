"""`create_app`: the Flask app of the webhook service, wired to its database and job queue."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from guard.handlers import HANDLERS, Handler, JobQueue
from guard.jobs.queue import make_queue
from guard.service import api, health, pages, webhooks
from guard.service.errors import MAX_BODY_BYTES, register_error_handlers
from guard.service.intake import use_synchronous
from guard.service.state import EXTENSION_KEY, ServiceState
from guard.settings import Settings, load_settings
from guard.store import make_engine, make_session_factory


def create_app(
    settings: Settings | None = None,
    *,
    queue: JobQueue | None = None,
    handlers: Mapping[tuple[str, str | None], Handler] | None = None,
) -> Flask:
    """The service's app. Settings default to the environment (load_settings), the queue to
    the one the settings choose (guard.jobs.queue.make_queue), the handlers to HANDLERS.

    Nothing connects here: the database is first used by a request, so an app can be
    created while the database is down and say so on /readyz.
    """
    if settings is None:
        settings = load_settings()
    if queue is None:
        queue = make_queue(settings)
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    app = Flask("guard.service")
    # Flask refuses larger bodies with a 413 before reading them.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    state = ServiceState(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_session_factory(engine, read_only=True),
        queue=queue,
        handlers=HANDLERS if handlers is None else handlers,
    )
    app.extensions[EXTENSION_KEY] = state
    use_synchronous(engine, settings.intake_sqlite_synchronous)
    # `POST /webhook` is answered in front of Flask (see guard.service.webhooks).
    app.wsgi_app = webhooks.WebhookIntake(app.wsgi_app, state)  # type: ignore[method-assign]
    app.register_blueprint(health.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    register_error_handlers(app)
    return app


def close_app(app: Flask) -> None:
    """Give back the app's database connections (for tests and embedders; a worker that
    exits releases them anyway)."""
    state = app.extensions.get(EXTENSION_KEY)
    if isinstance(state, ServiceState):
        state.engine.dispose()
