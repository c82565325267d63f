"""The client's own identity on GitHub, learnt once: what tells the guard's work from a forgery."""

from __future__ import annotations

from guard.github.auth import AppAuth
from guard.github.client_base import ClientBase
from guard.github.errors import GitHubError
from guard.github.identity import VIEWER_QUERY, OwnIdentity


class IdentityOperations(ClientBase):
    """`own_identity`, cached for the client's life."""

    def own_identity(self) -> OwnIdentity:
        """Who this client acts as. An App is known by the id it was configured with (no call);
        a plain token (a person's, an App installation's, a job's GITHUB_TOKEN) by asking
        GitHub once: GraphQL's `viewer` answers for all three, where REST `GET /user` refuses
        installation tokens and `GET /app` wants the App's JWT."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = self._learn_identity()
            return self._identity

    def _learn_identity(self) -> OwnIdentity:
        if isinstance(self._auth, AppAuth):
            return OwnIdentity(app_id=int(self._auth.app_id))

        def ask() -> OwnIdentity:
            _headers, data = self._requester.graphql_query(VIEWER_QUERY, {})
            viewer = (data.get("data") or {}).get("viewer") or {}
            login = viewer.get("login") if isinstance(viewer, dict) else None
            if not isinstance(login, str) or not login:
                raise GitHubError("GitHub did not say which account the token belongs to")
            return OwnIdentity(login=login)

        return self._idempotent("read the token's own account", ask)
