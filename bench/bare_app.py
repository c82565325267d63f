"""The intake benchmark's baseline: a route that answers 202 and does nothing, under the
same gunicorn settings as `deploy-guard serve` (`python -m bench.bare_app --port P`)."""

from __future__ import annotations

import argparse
from typing import Any

from flask import Flask, Response, jsonify
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from guard.cli.serve_command import DEFAULT_WORKERS
from guard.service.server import server_options

app = Flask("bench.bare_app")


@app.post("/webhook")
def webhook() -> tuple[Response, int]:
    return jsonify(status="accepted", reason="nothing done"), 202


@app.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


class BareServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with serve's own options (workers, gthread, threads, timeouts, keep-alive)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args()
    options = server_options("127.0.0.1", args.port, args.workers)
    options["proc_name"] = "bench-bare-app"
    BareServer(options).run()


if __name__ == "__main__":
    main()
