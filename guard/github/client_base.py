"""What every part of the GitHub client shares: one requester, one retrier, one credential."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from itertools import islice
from typing import Any, TypeVar

from github.GithubObject import NonCompletableGithubObject
from github.PaginatedList import PaginatedList
from github.Repository import Repository

from guard.github.auth import GitHubAuth
from guard.github.identity import OwnIdentity
from guard.github.retry import Retrier, RetryPolicy
from guard.github.transport import DEFAULT_API_URL, CallObserver, HeaderAuth, build_requester

T = TypeVar("T")

_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


class _RawItem(NonCompletableGithubObject):
    """One element of a list answer, kept as GitHub's JSON: never completed by another GET."""

    def _initAttributes(self) -> None:  # noqa: N802 - PyGithub's hook
        return None

    def _useAttributes(self, attributes: Any) -> None:  # noqa: N802 - PyGithub's hook
        return None


class ClientBase:
    """Construction and the two ways of calling: `_idempotent` (retried) and `_create` (guarded)."""

    def __init__(
        self,
        auth: GitHubAuth,
        base_url: str = DEFAULT_API_URL,
        *,
        installation_id: int | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        observer: CallObserver | None = None,
        timeout_s: int = 15,
        # GitHub asks for serial requests and at least a second between writes; PyGithub
        # enforces both with real sleeps, so tests against the sandbox turn them off.
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        list_limit: int = 1000,
    ) -> None:
        self.installation_id = installation_id
        self.base_url = base_url.rstrip("/")
        self.list_limit = list_limit
        self._auth = auth
        # Learnt on first use by `own_identity`; one client acts as one account for its life.
        self._identity: OwnIdentity | None = None
        self._identity_lock = threading.Lock()
        self._retrier = Retrier(retry_policy, sleep=sleep, clock=clock)
        self._requester = build_requester(
            HeaderAuth(self._token),
            self.base_url,
            observer=observer,
            timeout_s=timeout_s,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(base_url={self.base_url!r}, installation_id={self.installation_id})"

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._requester.close()

    def installation_token(self, installation_id: int | None = None) -> str:
        """A token for git over HTTPS (`x-access-token:<token>`); the client's own by default."""
        chosen = installation_id if installation_id is not None else self.installation_id
        return self._auth.token_for(chosen)

    # -- plumbing ------------------------------------------------------------------------
    def _token(self) -> str:
        return self._auth.token_for(self.installation_id)

    def _refresh_credentials(self) -> bool:
        return self._auth.invalidate(self.installation_id)

    def _repo(self, repo: str) -> Repository:
        if not _REPO_NAME.fullmatch(repo):
            raise ValueError(f"expected a repository as owner/name, got {repo!r}")
        # The requester is lazy: this makes no request until an attribute needs one.
        return Repository(self._requester, url=f"/repos/{repo}")

    def _api(
        self,
        verb: str,
        url: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """One call for what PyGithub does not wrap (or wraps wrongly); returns the JSON."""
        _headers, data = self._requester.requestJsonAndCheck(
            verb, url, parameters=params, input=body
        )
        return data

    def _list(
        self,
        url: str,
        params: dict[str, Any] | None = None,
        *,
        list_item: str = "items",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every page of a list answer (up to `limit` items), following GitHub's Link header."""
        pages = PaginatedList(
            _RawItem, self._requester, url, dict(params or {}), list_item=list_item
        )
        return [item.raw_data for item in islice(pages, limit or self.list_limit)]

    def _idempotent(self, what: str, call: Callable[[], T]) -> T:
        """Reads and idempotent writes: retried on anything transient."""
        return self._retrier.run(what, call, refresh_credentials=self._refresh_credentials)

    def _create(
        self,
        what: str,
        call: Callable[[], T],
        *,
        recover: Callable[[], T | None] | None = None,
    ) -> T:
        """Creates: after a failure that may have been applied, only `recover` decides."""
        return self._retrier.run(
            what,
            call,
            repeatable=False,
            recover=recover,
            refresh_credentials=self._refresh_credentials,
        )
