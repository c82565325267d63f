"""gunicorn, run from Python: the service's app in gthread workers, logs through our handler."""

from __future__ import annotations

import logging
from typing import Any, Final

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from guard.observability.logs import get_logger
from guard.observability.metrics import forget_process

# Imported here, in the master: the workers inherit the loaded modules instead of each
# importing them again after the fork (importing starts no threads, so forking stays safe).
from guard.service.app import create_app
from guard.settings import Settings

THREADS_PER_WORKER: Final = 4
WORKER_TIMEOUT_S: Final = 30
GRACEFUL_TIMEOUT_S: Final = 20
KEEPALIVE_S: Final = 5

log = get_logger("guard.serve")


class GuardLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing through the root logger (JSON, redacted) instead of its own
    handlers. Access lines are off: every webhook answer is already logged as an event."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for gunicorn_log in (self.error_log, self.access_log):
            for handler in list(gunicorn_log.handlers):
                gunicorn_log.removeHandler(handler)
            gunicorn_log.propagate = True


def _forget_worker(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must leave /metrics; its counters stay (they are history).
    forget_process(worker.pid)


def _announce(server: Any) -> None:
    addresses = [str(listener) for listener in getattr(server, "LISTENERS", [])]
    log.info("serve.listening", addresses=addresses, workers=server.cfg.workers)


def server_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """gunicorn's settings for `deploy-guard serve`."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": workers,
        "worker_class": "gthread",
        # A webhook answer waits on the database, not the CPU: threads, not processes.
        "threads": THREADS_PER_WORKER,
        # GitHub gives up after 10 s (30 s on GHES); a request still running at 30 s is stuck.
        "timeout": WORKER_TIMEOUT_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": KEEPALIVE_S,
        "proc_name": "deploy-guard",
        "logger_class": GuardLogger,
        "loglevel": logging.getLevelName(logging.INFO).lower(),
        "accesslog": None,
        "errorlog": "-",
        # gunicorn's runtime control socket lives in a shared directory ($HOME); two serves
        # on one machine would fight over it, and nothing here needs it.
        "control_socket_disable": True,
        "child_exit": _forget_worker,
        "when_ready": _announce,
    }


class GuardServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with our options; each worker builds its own app (after the fork, so no
    database connection or queue client is shared between processes)."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return create_app(self.settings)
