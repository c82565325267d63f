"""Opt-in webhook deliveries of `deployment` and `deployment_status`, signed as GitHub signs,
kept in a delivery log an App can list and redeliver from, as GitHub keeps its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import requests

from guard.sandbox.models import RepoRecord
from guard.sandbox.payloads_core import node_id, repository_json, user_json
from guard.sandbox.runtime import acting_user, caller, current, links

USER_AGENT = "GitHub-Hookshot/guard-sandbox"
HOOK_ID = "1"
DELIVERY_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt: what was sent, and what the receiver answered.

    `status` is None and `error` set when no answer came (GitHub's log then shows 0).
    """

    guid: str
    event: str
    action: str
    status: int | None
    error: str | None
    # The delivery log's own fields (GET /app/hook/deliveries).
    id: int = 0
    redelivery: bool = False
    delivered_at: float = 0.0  # the sandbox clock's time of the attempt
    duration: float = 0.0
    app_id: int | None = None
    installation_id: int | None = None
    repository_id: int | None = None


@dataclass(frozen=True)
class _Event:
    """What a delivery sends, kept for redeliveries (the same body, guid and signature)."""

    guid: str
    event: str
    body: bytes
    action: str
    app_id: int | None
    installation_id: int | None
    repository_id: int | None


@dataclass(frozen=True)
class _Attempt:
    event: _Event
    id: int
    redelivery: bool
    at: float


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts events from a worker thread, in order, as GitHub delivers them after answering."""

    def __init__(self, url: str, secret: str | None) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._events: dict[str, _Event] = {}
        self._next_id = 1
        self._pending: deque[_Attempt] = deque()
        self._condition = threading.Condition()
        self._closed = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._work, name="guard-sandbox-hooks", daemon=True)
        self._thread.start()

    # building events (inside a request) -------------------------------------------------------

    def deployment_created(self, repo: RepoRecord, deployment: dict[str, Any]) -> None:
        self._enqueue("deployment", {"action": "created", "deployment": deployment}, repo)

    def deployment_status_created(
        self, repo: RepoRecord, status: dict[str, Any], deployment: dict[str, Any]
    ) -> None:
        # GitHub sends no deployment_status event for `inactive` statuses.
        if status["state"] == "inactive":
            return
        body = {"action": "created", "deployment_status": status, "deployment": deployment}
        self._enqueue("deployment_status", body, repo)

    def _enqueue(self, event: str, body: dict[str, Any], repo: RepoRecord) -> None:
        state = current().state
        body["repository"] = repository_json(links(), repo, state.ensure_user(repo.owner))
        body["sender"] = user_json(links(), acting_user())
        installation = next(
            (
                i
                for i in state.installations.values()
                if i.account.lower() == repo.owner.lower()
                and (i.repositories is None or repo.full_name in i.repositories)
            ),
            None,
        )
        app_id = caller().app_id or (installation.app_id if installation else None)
        if installation is not None:
            body["installation"] = {
                "id": installation.id,
                "node_id": node_id("Installation", installation.id),
            }
        sent = _Event(
            guid=str(uuid.uuid4()),
            event=event,
            body=json.dumps(body).encode(),
            action=str(body.get("action", "")),
            app_id=app_id,
            installation_id=installation.id if installation is not None else None,
            repository_id=repo.id,
        )
        with self._condition:
            self._events[sent.guid] = sent
            self._push(sent, redelivery=False, at=current().clock.now())

    def redeliver(self, delivery_id: int, app_id: int, at: float) -> bool:
        """Send a logged delivery of `app_id`'s hook again (same guid and body); False if none."""
        with self._condition:
            logged = next(
                (d for d in self.deliveries if d.id == delivery_id and d.app_id == app_id), None
            )
            if logged is None:
                return False
            self._push(self._events[logged.guid], redelivery=True, at=at)
        return True

    def _push(self, event: _Event, *, redelivery: bool, at: float) -> None:
        # Under the condition: ids follow the order attempts are made in.
        self._pending.append(_Attempt(event, self._next_id, redelivery, at))
        self._next_id += 1
        self._condition.notify_all()

    def logged(self, app_id: int) -> list[Delivery]:
        """The attempts made for `app_id`'s hook, newest first, as GitHub lists them."""
        with self._condition:
            return [d for d in reversed(self.deliveries) if d.app_id == app_id]

    # delivering ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                attempt = self._pending[0]
            delivery = self._deliver(attempt)
            with self._condition:
                self._pending.popleft()
                self.deliveries.append(delivery)
                self._condition.notify_all()

    def _deliver(self, attempt: _Attempt) -> Delivery:
        sent = attempt.event
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": sent.event,
            "X-GitHub-Delivery": sent.guid,
            "X-GitHub-Hook-ID": HOOK_ID,
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(sent.app_id or 0),
        }
        if self.secret:
            headers["X-Hub-Signature-256"] = signature_256(self.secret, sent.body)
            legacy = hmac.new(self.secret.encode(), sent.body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature"] = f"sha1={legacy}"

        def logged(status: int | None, error: str | None, duration: float) -> Delivery:
            return Delivery(
                sent.guid,
                sent.event,
                sent.action,
                status,
                error,
                id=attempt.id,
                redelivery=attempt.redelivery,
                delivered_at=attempt.at,
                duration=duration,
                app_id=sent.app_id,
                installation_id=sent.installation_id,
                repository_id=sent.repository_id,
            )

        started = time.perf_counter()
        try:
            answer = self._session.post(
                self.url, data=sent.body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            return logged(None, str(error), time.perf_counter() - started)
        return logged(answer.status_code, None, time.perf_counter() - started)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been delivered (or failed); False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(DELIVERY_TIMEOUT_SECONDS + 1)
        self._session.close()
