"""`deploy-guard demo`: the story of a bad deployment, run locally on the embedded defaults."""

from __future__ import annotations

import sys

import click


@click.command()
def demo() -> None:
    """Run the example shop, verify a good and a bad deploy, and say what happened.

    Exit 0 only when the story completed (the good deploy passed and the bad one failed).
    """
    from guard.demo.story import run_demo

    outcome = run_demo(click.echo)
    sys.exit(0 if outcome.completed else 1)
