"""The App's webhook delivery log on GitHub: list it page by page, ask for a redelivery.

Both calls authenticate with the App's JWT (GitHub refuses installation tokens there) and need
no installation permission: the log is the App's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from guard.github.auth import AppAuth
from guard.github.errors import GitHubError
from guard.github.retry import Retrier
from guard.github.transport import (
    DEFAULT_API_URL,
    CallObserver,
    HeaderAuth,
    ObservedRequester,
    build_requester,
)

DELIVERIES_PATH = "/app/hook/deliveries"
# GitHub's largest page: fewer calls for the same stretch of the log.
PAGE_SIZE = 100


@dataclass(frozen=True)
class HookDelivery:
    """One attempt in the log (GitHub's `hook-delivery-item`, the fields the guard reads)."""

    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    status_code: int  # 0 when nobody answered
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


def parse_delivery(item: Any) -> HookDelivery:
    """A log item as GitHub sends it; GitHubError when its shape is not GitHub's."""
    if not isinstance(item, dict):
        raise GitHubError("a webhook delivery in GitHub's log is not an object")
    try:
        delivered_at = datetime.fromisoformat(str(item["delivered_at"]))
        return HookDelivery(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=delivered_at,
            redelivery=bool(item["redelivery"]),
            status_code=int(item.get("status_code") or 0),
            event=str(item["event"]),
            action=None if item.get("action") is None else str(item["action"]),
            installation_id=_optional_int(item.get("installation_id")),
            repository_id=_optional_int(item.get("repository_id")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise GitHubError(f"a webhook delivery in GitHub's log is malformed: {error}") from error


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def next_cursor(link: str | None) -> str | None:
    """The `cursor` of the Link header's rel="next" page; None on the last page."""
    for part in (link or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' not in params:
            continue
        values = parse_qs(urlsplit(url.strip().strip("<>")).query).get("cursor")
        return values[0] if values else None
    return None


class HookDeliveries:
    """The delivery log of the App that `auth` signs JWTs for."""

    def __init__(
        self,
        auth: AppAuth,
        api_url: str = DEFAULT_API_URL,
        *,
        retrier: Retrier | None = None,
        observer: CallObserver | None = None,
        seconds_between_writes: float | None = None,
        timeout_s: int = 15,
    ) -> None:
        self._retrier = retrier or Retrier()
        self._requester: ObservedRequester = build_requester(
            HeaderAuth(auth.app_jwt, token_type="Bearer"),  # noqa: S106 - a scheme name
            api_url,
            observer=observer,
            timeout_s=timeout_s,
            seconds_between_writes=seconds_between_writes,
        )

    def pages(self, per_page: int = PAGE_SIZE) -> Iterator[list[HookDelivery]]:
        """The log a page at a time, newest first; stop iterating to stop asking."""
        cursor: str | None = None
        while True:
            parameters: dict[str, Any] = {"per_page": per_page}
            if cursor is not None:
                parameters["cursor"] = cursor

            def get(parameters: dict[str, Any] = parameters) -> tuple[dict[str, Any], Any]:
                return self._requester.requestJsonAndCheck(
                    "GET", DELIVERIES_PATH, parameters=parameters
                )

            headers, data = self._retrier.run("list webhook deliveries", get)
            if not isinstance(data, list):
                raise GitHubError("GitHub's webhook delivery log is not a list")
            yield [parse_delivery(item) for item in data]
            cursor = next_cursor(_header(headers, "link"))
            if cursor is None:
                return

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to send the delivery again (it answers 202 and sends it soon after).

        Asking twice sends it twice; the guard records a delivery once by its guid, so a
        retry after a lost answer is harmless.
        """
        url = f"{DELIVERIES_PATH}/{delivery_id}/attempts"

        def post() -> None:
            self._requester.requestJsonAndCheck("POST", url)

        self._retrier.run(f"redeliver webhook delivery {delivery_id}", post)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None
