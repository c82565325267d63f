"""The job workers keep huey's per-task info lines out of the log, not its warnings."""

from __future__ import annotations

import logging

from guard.jobs.consumer import quiet_task_lines


def test_huey_task_lines_are_quiet_but_its_warnings_and_consumer_lines_show() -> None:
    loggers = [logging.getLogger(name) for name in ("huey", "huey.consumer")]
    levels = [logger.level for logger in loggers]
    try:
        quiet_task_lines()
        huey, consumer = loggers
        assert not huey.isEnabledFor(logging.INFO)
        assert huey.isEnabledFor(logging.WARNING)
        assert consumer.isEnabledFor(logging.INFO)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
