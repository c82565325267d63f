"""Shared pieces of the benchmarks: timing helpers and a local HTTP target in its own process."""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

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
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def target_process() -> Iterator[tuple[str, int]]:
    """Start the target in its own process and yield its base URL and process id."""
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
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def target_server() -> Iterator[str]:
    """Start the target in its own process and yield its base URL."""
    with target_process() as (url, _pid):
        yield url


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


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for p99); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def clean_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any guard, Sentry or metrics setting, plus these."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GUARD_", "SENTRY_", "PROMETHEUS_"))
    }
    return {**kept, **variables}


def answers(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET of `url`, or None when nothing answers."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@contextmanager
def service_process(
    command: list[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    ready_url: str | None = None,
    ready_text: str | None = None,
    start_timeout_s: float = 120.0,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (its output to `log_path`) until the block ends; with `ready_url`, wait
    for it to answer 200 first, with `ready_text`, for its log to say so. Stopped with
    SIGTERM, killed if it does not go in 60 s."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=dict(env), stdout=log, stderr=log, cwd=cwd)
    try:
        deadline = time.monotonic() + start_timeout_s
        while (ready_url is not None and answers(ready_url) != 200) or (
            ready_text is not None and ready_text not in log_path.read_text(errors="replace")
        ):
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}: {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} never answered: see {log_path}")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        # The command name is in parentheses and may hold spaces: split after it.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(roots: Iterable[int]) -> list[int]:
    """`roots` and all their descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid for pid in roots if _stat_fields(pid) is not None]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time one process has used so far (0 when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # Fields 14 and 15 of /proc/PID/stat, counted after the command name.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class TreeSampler:
    """Samples process trees in a thread: each name's peak summed RSS and the CPU it used.

    `roots` gives, per name, a function returning the root processes now (so processes that
    appear later, such as database backends, can be found). CPU is counted per process from
    its first sighting (or from `since_now`) to its last; one that exits keeps its last reading.
    """

    def __init__(
        self, roots: Mapping[str, Callable[[], Iterable[int]]], interval_s: float = 0.5
    ) -> None:
        self.roots = dict(roots)
        self.interval_s = interval_s
        self.peak_rss: dict[str, int] = dict.fromkeys(self.roots, 0)
        self._first_cpu: dict[int, float] = {}
        self._last_cpu: dict[int, float] = {}
        self._owner: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def sample(self) -> None:
        for name, roots in self.roots.items():
            total = 0
            for pid in process_tree(roots()):
                total += rss_bytes(pid)
                used = cpu_seconds(pid)
                with self._lock:
                    self._first_cpu.setdefault(pid, used)
                    self._last_cpu[pid] = max(used, self._last_cpu.get(pid, 0.0))
                    self._owner[pid] = name
            self.peak_rss[name] = max(self.peak_rss[name], total)

    def since_now(self) -> None:
        """Count CPU and peak memory from here on."""
        self.sample()
        with self._lock:
            self._first_cpu = dict(self._last_cpu)
        self.peak_rss = dict.fromkeys(self.roots, 0)

    def cpu(self, name: str) -> float:
        with self._lock:
            return sum(
                self._last_cpu[pid] - self._first_cpu[pid]
                for pid, owner in self._owner.items()
                if owner == name
            )

    def start(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
