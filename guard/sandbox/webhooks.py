"""Opt-in webhook deliveries of `deployment` and `deployment_status`, signed as GitHub signs."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
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
    """One delivery attempt: what was sent, and what the receiver answered."""

    guid: str
    event: str
    action: str
    status: int | None
    error: str | None


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts events from a worker thread, in order, as GitHub delivers them after answering."""

    def __init__(self, url: str, secret: str | None) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._pending: deque[tuple[str, dict[str, Any], int | None]] = deque()
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
        with self._condition:
            self._pending.append((event, body, app_id))
            self._condition.notify_all()

    # delivering ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                event, body, app_id = self._pending[0]
            delivery = self._deliver(event, body, app_id)
            with self._condition:
                self._pending.popleft()
                self.deliveries.append(delivery)
                self._condition.notify_all()

    def _deliver(self, event: str, body: dict[str, Any], app_id: int | None) -> Delivery:
        raw = json.dumps(body).encode()
        guid = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": HOOK_ID,
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(app_id or 0),
        }
        if self.secret:
            headers["X-Hub-Signature-256"] = signature_256(self.secret, raw)
            legacy = hmac.new(self.secret.encode(), raw, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature"] = f"sha1={legacy}"
        action = str(body.get("action", ""))
        try:
            answer = self._session.post(
                self.url, data=raw, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            return Delivery(guid, event, action, None, str(error))
        return Delivery(guid, event, action, answer.status_code, None)

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
