"""The Sandbox: a real HTTP server on an ephemeral port, in a thread, with its control API."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from guard.sandbox.app import create_app
from guard.sandbox.control import SandboxControl
from guard.sandbox.ratelimit import AUTHENTICATED_LIMIT
from guard.sandbox.runtime import SandboxConfig, SandboxRuntime
from guard.sandbox.webhooks import WebhookSender

# How often the serving loop looks for a stop request; short, so stop() returns quickly.
POLL_SECONDS = 0.05
# How long stop() lets calls still being answered (released held ones) finish.
DRAIN_SECONDS = 10.0


class _QuietHandler(WSGIRequestHandler):
    """No access log lines: the call log records every request already."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class Sandbox(SandboxControl):
    """A local GitHub REST API: `with Sandbox(strict=True) as sandbox: ... sandbox.base_url`.

    Without a data_dir the sandbox lives in a temporary directory removed by stop(); with one,
    state.json and the bare repositories stay there and a later Sandbox picks them up.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = False,
        autosave: bool = False,
        control_token: str | None = None,
        rate_limit: int = AUTHENTICATED_LIMIT,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        quiet: bool = True,
    ) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="guard-sandbox-")
            data_dir = self._temporary.name
        config = SandboxConfig(
            strict=strict,
            autosave=autosave,
            control_token=control_token,
            rate_limit=rate_limit,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )
        super().__init__(SandboxRuntime(Path(data_dir), config))
        if webhook_url:
            self.runtime.webhooks = WebhookSender(webhook_url, webhook_secret)
        self.app = create_app(self.runtime)
        self.host = host
        self.port = port
        self._quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def data_dir(self) -> Path:
        return self.runtime.data_dir

    @property
    def base_url(self) -> str:
        """scheme://host:port to give PyGithub as base_url (and requests as a prefix)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host  # noqa: S104
        return f"http://{host}:{self._server.server_port}"

    def bind(self) -> None:
        """Open the listening socket (so base_url is known) without serving yet."""
        if self._server is None:
            self._server = make_server(
                self.host,
                self.port,
                self.app,
                threaded=True,
                request_handler=_QuietHandler if self._quiet else None,
            )

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self for `sandbox = Sandbox().start()`."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name="guard-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the `deploy-guard sandbox` command)."""
        self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=POLL_SECONDS)
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, let held requests go, save a kept data dir, remove a temporary one."""
        self.runtime.faults.release()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self.runtime.wait_until_idle(DRAIN_SECONDS)
        self._close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.server_close()
            self._server = None
        self._thread = None
        self.runtime.close()
        if self.runtime.webhooks is not None:
            self.runtime.webhooks.close()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
        else:
            self.save()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
