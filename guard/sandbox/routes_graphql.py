"""GraphQL, as far as the guard uses it: `viewer { login }`, the one question every kind of
token may ask about itself (REST `GET /user` refuses installation tokens)."""

from __future__ import annotations

import re

from flask import Blueprint, Response

from guard.sandbox.access import NOT_ACCESSIBLE_BY_INTEGRATION
from guard.sandbox.errors import ApiError, requires_authentication
from guard.sandbox.runtime import acting_user, caller, json_body, respond

blueprint = Blueprint("sandbox_graphql", __name__)

GRAPHQL_PATH = "/graphql"
# `query { viewer { login } }`, `{ viewer { login } }` or a named query, whatever the spacing.
_VIEWER_LOGIN = re.compile(r"^\s*(query(\s+\w+)?\s*)?\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*$")
UNSUPPORTED = "The sandbox answers only the query `{ viewer { login } }`."


def is_graphql_path(path: str) -> bool:
    """GraphQL is not part of the REST description the strict sandbox checks answers against."""
    return path == GRAPHQL_PATH


@blueprint.post(GRAPHQL_PATH)
def graphql() -> Response:
    principal = caller()
    if principal.kind == "anonymous":
        raise requires_authentication()
    if principal.kind == "app":
        # An App's JWT speaks for the App, not for an account: GitHub wants a token here.
        raise ApiError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
    query = json_body().get("query")
    if not isinstance(query, str) or not _VIEWER_LOGIN.match(query):
        # GitHub answers a query it cannot run with 200 and an `errors` list.
        return respond({"errors": [{"message": UNSUPPORTED}]})
    # An installation token's viewer is its App's bot, `slug[bot]`, as on GitHub.
    return respond({"data": {"viewer": {"login": acting_user().login}}})
