"""`deploy-guard demo`: the story of a bad deployment, run locally on the embedded defaults."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

import click

# Where the demo leaves its outcome in the click context's object (for tests and embedders).
OUTCOME_KEY: Final = "demo_outcome"
EXIT_COMPLETED: Final = 0
EXIT_NOT_COMPLETED: Final = 1
EXIT_INTERRUPTED: Final = 130
STRICT_NEEDS: Final = "--strict needs {module}: pip install openapi-core"


@contextmanager
def _stopping_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo like Ctrl-C does, so it still stops what it started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_number: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP)}
    for number in previous:
        signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _wait_for_ctrl_c() -> None:
    threading.Event().wait()


@click.command()
@click.option(
    "--timeout",
    default=90.0,
    show_default=True,
    type=click.FloatRange(min=10),
    help="Seconds the whole story may take before the demo says what did not happen.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="After the story, keep the sandbox and serve up (to open their URLs) until Ctrl-C.",
)
@click.option(
    "--strict/--no-strict",
    default=False,
    help="Check every sandbox answer against GitHub's OpenAPI description (needs openapi-core).",
)
@click.pass_context
def demo(ctx: click.Context, timeout: float, keep_running: bool, strict: bool) -> None:
    """The whole story locally: a GitHub sandbox, the example shop, its pipeline and
    `deploy-guard serve` catching a bad deployment, rolling it back and filing the incident.

    Exit 0 only when the story completed (v1 passed, v2 failed, one rollback of v1's commit,
    one incident issue, the rollback verified and "service restored" commented); 1 otherwise.
    """
    from guard.demo import messages
    from guard.demo.story import run_story

    try:
        with _stopping_signals_interrupt():
            outcome = run_story(
                click.echo,
                timeout_s=timeout,
                keep_running=_wait_for_ctrl_c if keep_running else None,
                strict=strict,
            )
    except KeyboardInterrupt:
        click.echo(messages.INTERRUPTED, err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ImportError as missing:
        # Only --strict needs openapi-core, a development dependency.
        raise click.ClickException(STRICT_NEEDS.format(module=missing.name)) from missing
    ctx.ensure_object(dict)[OUTCOME_KEY] = outcome
    sys.exit(EXIT_COMPLETED if outcome.completed else EXIT_NOT_COMPLETED)
