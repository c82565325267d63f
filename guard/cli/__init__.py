"""The `deploy-guard` command line: each command lives in its own module, imported only when run."""

from __future__ import annotations

import importlib
import os
import sys

import click

from guard import __version__

# pydantic looks for third-party plugins through every installed distribution's entry points on
# its first model: ~100 ms of start-up that deploy-guard never needs (it uses no pydantic plugins).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# command name -> ("module:attribute", one-line help). Importing lazily keeps `--version` and
# `validate` fast: boto3 and the web stack load only for the commands that use them, and
# `--help` lists the commands without importing any of them.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "guard.cli.policy_commands:validate",
        "Check a policy file; errors name the line.",
    ),
    "schema": ("guard.cli.policy_commands:schema", "Print the policy's JSON Schema."),
    "verify": ("guard.cli.verify_command:verify", "Run an environment's checks from here."),
    "sandbox": ("guard.cli.sandbox_command:sandbox", "Run the local GitHub API sandbox."),
    "demo": ("guard.cli.demo_command:demo", "The whole story locally, on the embedded defaults."),
    "db": ("guard.cli.db_command:db", "Database maintenance: `db upgrade` runs the migrations."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target = COMMANDS[cmd_name][0]
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deploy-guard")
def main() -> None:
    """deploy-guard: verify deployments; roll back and file the incident when they fail."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
