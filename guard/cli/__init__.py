"""The `deploy-guard` command line: each command lives in its own module, imported only when run."""

from __future__ import annotations

import importlib
import os
import sys
import types

import click

from guard import __version__


def _skip_pydantic_plugin_discovery() -> None:
    """Spare the CLI pydantic's plugin discovery: deploy-guard uses no pydantic plugins.

    On its first model pydantic imports `importlib.metadata` and scans every installed
    distribution's entry points for plugins: 40-100 ms of start-up for `validate`, a quarter of
    its time. The environment variable stops the scan; the stand-in loader module stops the
    import. If pydantic moves its loader, the stand-in is simply never used (the start-up
    benchmark in bench/startup.py would show the cost coming back).
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    name = "pydantic.plugin._loader"
    if name not in sys.modules and os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__":
        loader = types.ModuleType(name)
        setattr(loader, "get_plugins", tuple)  # noqa: B010 - a module built at run time
        sys.modules[name] = loader


_skip_pydantic_plugin_discovery()

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
    "rollback": (
        "guard.cli.rollback_command:rollback",
        "A manual remedy through the same code path.",
    ),
    "serve": ("guard.cli.serve_command:serve", "The webhook service with the embedded defaults."),
    "worker": ("guard.cli.worker_command:worker", "Job workers only (scale-out with Redis)."),
    "action": ("guard.cli.action_command:action", "The pipeline step: verify, remedy, report."),
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
