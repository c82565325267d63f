"""A small shop service for the demo and the tests: healthy at v1, broken at v2."""

from __future__ import annotations

import threading
from types import TracebackType

from flask import Flask, Response, jsonify
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

HOME_PAGE = "<html><body><h1>Demo shop</h1><button>Add to cart</button></body></html>"


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: the demo prints its own story, and tests read their own assertions."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class ExampleService:
    """The shop, served on 127.0.0.1 in a thread; `deploy(version)` changes what it serves."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.version = "v1"
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            host, port, self._app(), threaded=True, request_handler=QuietRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def broken(self) -> bool:
        # v2 ships a bad database setting: the home page and health checks fail.
        return self.version == "v2"

    def deploy(self, version: str) -> None:
        with self._lock:
            self.version = version

    def start(self) -> ExampleService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ExampleService:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _app(self) -> Flask:
        app = Flask("example_service")

        @app.get("/")
        def home() -> tuple[str, int]:
            if self.broken:
                return "Internal Server Error: database unavailable", 500
            return HOME_PAGE, 200

        @app.get("/health")
        def health() -> tuple[Response, int]:
            if self.broken:
                return jsonify(status="error", version=self.version), 503
            return jsonify(status="ok", version=self.version), 200

        @app.get("/api/health")
        def api_health() -> tuple[Response, int]:
            connected = not self.broken
            body = jsonify(status="ok" if connected else "degraded", db={"connected": connected})
            return body, 200

        return app
