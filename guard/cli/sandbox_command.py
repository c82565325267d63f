"""`deploy-guard sandbox`: the local GitHub REST sandbox on its own, seeded with a demo repo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

DEFAULT_PORT = 8765


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep repositories and state here across runs (default: a temporary directory).",
)
@click.option(
    "--strict/--no-strict",
    default=False,
    help="Check every answer against GitHub's OpenAPI description; see /_sandbox/violations.",
)
def sandbox(host: str, port: int, data_dir: Path | None, strict: bool) -> None:
    """Serve GitHub's REST API locally: real git repositories, deployments, issues, App auth."""
    from guard.sandbox import Sandbox
    from guard.sandbox.seed import describe, seed_demo

    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = Sandbox(data_dir, host=host, port=port, strict=strict, autosave=True, quiet=False)
    except ImportError as missing:
        # Only --strict needs openapi-core, a development dependency.
        raise click.ClickException(
            f"--strict needs {missing.name}: pip install openapi-core"
        ) from missing
    # Binding first makes the port known (with --port 0) before the banner is printed.
    server.bind()
    world = seed_demo(server)
    server.save()
    click.echo(describe(server.base_url, world, kept=data_dir is not None))
    sys.stdout.flush()
    server.serve_forever()
