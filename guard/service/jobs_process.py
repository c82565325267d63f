"""The embedded job workers of `deploy-guard serve`, in a process of their own beside gunicorn.

Why not threads in the serve process itself: gunicorn's master forks its web workers (at
start, and again whenever one is replaced), and a fork copies every lock in the state it
was in at that instant. A job thread holding one — SQLAlchemy's mapper lock on its first
query, say — leaves the forked web worker waiting forever for a lock nobody will release.
So the master runs no threads, and the job threads live here, in a fresh interpreter.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Final

READY: Final = b"ready\n"
FAILED: Final = b"failed:"
# How long serve waits for the workers to report ready before calling the start a failure.
START_TIMEOUT_S: Final = 60.0
# How long the workers get to finish their current steps on shutdown before being killed.
STOP_TIMEOUT_S: Final = 60.0
# How often the workers look whether serve is still there (they stop when it is not).
PARENT_CHECK_S: Final = 1.0


class JobsProcessError(RuntimeError):
    """The job workers' process did not start; the message says how it ended."""


def start_jobs_process(threads: int) -> subprocess.Popen[bytes]:
    """Start the job workers (`threads` of them) and wait until they run.

    The child reads its settings from the same environment as serve. Raises
    JobsProcessError when it exits or stays silent instead of reporting ready.
    """
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(write_end), str(threads)],
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    try:
        _wait_until_ready(process, read_end)
    except BaseException:
        stop_jobs_process(process)
        raise
    finally:
        os.close(read_end)
    return process


def _wait_until_ready(process: subprocess.Popen[bytes], read_end: int) -> None:
    """Read the child's one line: READY, or FAILED and why."""
    deadline = time.monotonic() + START_TIMEOUT_S
    received = b""
    while not received.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise JobsProcessError(f"no answer within {START_TIMEOUT_S:.0f} s")
        readable, _, _ = select.select([read_end], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(read_end, 4096)
        if not chunk:
            # Closed without a word: the child died before it could say why.
            code = process.wait()
            raise JobsProcessError(f"the job workers' process exited with status {code}")
        received += chunk
    if received != READY:
        text = received.decode("utf-8", errors="replace").strip()
        raise JobsProcessError(text.removeprefix(FAILED.decode()).strip())


def stop_jobs_process(process: subprocess.Popen[bytes]) -> int | None:
    """Ask the workers to finish their current steps and stop; kill them if they do not."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def main(arguments: Sequence[str]) -> int:
    """The child: start the workers, say ready on the pipe, run until told to stop."""
    ready_fd, threads = int(arguments[0]), int(arguments[1])
    from guard.jobs.consumer import start_embedded_workers
    from guard.observability.logs import error_summary, get_logger
    from guard.observability.startup import start_observability
    from guard.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        return _report_failure(ready_fd, str(error))
    start_observability(settings)
    stop = threading.Event()
    # SIGINT too: Ctrl-C reaches the whole process group, and serve stops us in order.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _signal, _frame: stop.set())
    parent = os.getppid()
    try:
        workers = start_embedded_workers(settings, threads=threads)
    except Exception as error:
        # Said once, by serve, as its one line: no traceback for a start-up problem.
        return _report_failure(ready_fd, error_summary(error))
    try:
        os.write(ready_fd, READY)
        os.close(ready_fd)
        while not stop.wait(PARENT_CHECK_S):
            if os.getppid() != parent:
                get_logger(__name__).warning("jobs.serve_gone", parent=parent)
                break
    finally:
        workers.stop()
    return 0


def _report_failure(ready_fd: int, why: str) -> int:
    """Tell serve why the workers did not start: one line, which serve prints as its own."""
    os.write(ready_fd, FAILED + b" " + " ".join(why.split()).encode("utf-8") + b"\n")
    os.close(ready_fd)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
