"""`deploy-guard validate` checks a policy file before a commit; `schema` prints its schema."""

from __future__ import annotations

import click

# Only the policy package: `validate` runs in pre-commit hooks and editors, so it must start fast
# (no HTTP client, AWS SDK, web framework or database layer).
from guard.policy.errors import PolicyError, PolicyReadError
from guard.policy.loader import load_policy_file
from guard.policy.schema import policy_json_schema_text

EXIT_INVALID = 2
VALID = "{filename}: valid ({count} {noun}: {names})"
INVALID = "{filename}: invalid ({count} {noun})"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


@click.command()
@click.argument("path", metavar="PATH")
def validate(path: str) -> None:
    """Check the policy file at PATH; every error names its line.

    Exit 0 when valid, 2 when invalid or unreadable.
    """
    try:
        policy = load_policy_file(path)
    except PolicyReadError as error:
        click.echo(error.render(), err=True)
        raise click.exceptions.Exit(EXIT_INVALID) from None
    except PolicyError as error:
        click.echo(error.render(), err=True)
        count = len(error.issues)
        click.echo(
            INVALID.format(filename=path, count=count, noun=_plural(count, "error")), err=True
        )
        raise click.exceptions.Exit(EXIT_INVALID) from None
    names = list(policy.environments)
    summary = VALID.format(
        filename=path,
        count=len(names),
        noun=_plural(len(names), "environment"),
        names=", ".join(names),
    )
    click.echo(summary)


@click.command()
def schema() -> None:
    """Print the policy's JSON Schema (the same bytes as guard/policy/deploy-guard.schema.json)."""
    click.echo(policy_json_schema_text(), nl=False)
