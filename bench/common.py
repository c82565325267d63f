"""Shared pieces of the benchmarks: timing helpers and a local HTTP target in its own process."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A tiny HTTP server in a separate process, so its CPU time never counts against the client.
TARGET_SERVER = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"status": "ok", "db": {"connected": true}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def target_server() -> Iterator[str]:
    """Start the target in its own process and yield its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", TARGET_SERVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def best_of(repeats: int, work: Callable[[], float]) -> float:
    """The smallest of `repeats` measurements: the least disturbed by the rest of the machine."""
    return min(work() for _ in range(repeats))


def median_wall(repeats: int, command: list[str]) -> float:
    """Median wall time of running `command` to completion."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def verdict(ratio: float, limit: float) -> str:
    return "ok" if ratio <= limit else f"OVER the {limit}x goal"
