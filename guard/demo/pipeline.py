"""The demo's delivery pipeline: it creates deployments and ships every new one it finds.

It behaves like a CD system with an `on: deployment` job, over GitHub's REST API as the
developer: it polls the environment's deployments, and for each one that has no status yet
it posts `in_progress`, makes the example shop serve the version at that commit
(`app/VERSION`), and posts `success` with the shop's URL as `environment_url`. So the
rollback deployment the guard creates is shipped like any other.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests

from guard.demo.world import VERSION_PATH

# The key the guard puts in the payload of the deployments it creates.
GUARD_PAYLOAD_KEY = "deploy_guard"
REQUEST_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.2

SHIPPING = "Shipping {version}"
SHIPPED = "Shipped {version}"
NOTHING_TO_SHIP = "No {path} at {sha}: nothing to ship"


class Shop(Protocol):
    """What the pipeline ships to: the example service."""

    @property
    def url(self) -> str: ...

    def deploy(self, version: str) -> None: ...


@dataclass(frozen=True)
class Shipment:
    """One deployment the pipeline handled."""

    deployment_id: int
    sha: str
    version: str | None
    state: str  # the final status it posted: success, or failure when there was nothing to ship
    by_guard: bool  # a deployment the guard created (a rollback)
    environment_url: str


class PipelineError(RuntimeError):
    """GitHub refused something the pipeline asked for."""


class Pipeline:
    """Creates deployments and ships them; `poll_once` is one look, `start` polls in a thread."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repo: str,
        shop: Shop,
        *,
        environment: str = "production",
        on_shipped: Callable[[Shipment], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.shop = shop
        self.environment = environment
        self.shipments: list[Shipment] = []
        self._on_shipped = on_shipped
        self._on_error = on_error
        self._poll_interval_s = poll_interval_s
        self._handled: set[int] = set()
        self._session = requests.Session()
        self._session.headers.update(
            {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- GitHub over HTTP ----------------------------------------------------------------------
    def _call(self, method: str, path: str, **options: Any) -> Any:
        answer = self._session.request(
            method, f"{self.api_url}{path}", timeout=REQUEST_TIMEOUT_S, **options
        )
        if answer.status_code >= 400:
            raise PipelineError(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
        return answer.json()

    def create_deployment(self, ref: str, description: str = "") -> dict[str, Any]:
        """A deployment of `ref` to the environment, as the developer's CI would create it."""
        created: dict[str, Any] = self._call(
            "POST",
            f"/repos/{self.repo}/deployments",
            json={
                "ref": ref,
                "environment": self.environment,
                "description": description,
                "auto_merge": False,
                "required_contexts": [],
            },
        )
        return created

    def _post_status(self, deployment_id: int, state: str, description: str) -> None:
        body = {"state": state, "description": description, "environment": self.environment}
        if state == "success":
            body["environment_url"] = self.shop.url
        self._call("POST", f"/repos/{self.repo}/deployments/{deployment_id}/statuses", json=body)

    def _version_at(self, sha: str) -> str | None:
        answer = self._session.get(
            f"{self.api_url}/repos/{self.repo}/contents/{quote(VERSION_PATH)}",
            params={"ref": sha},
            timeout=REQUEST_TIMEOUT_S,
        )
        if answer.status_code == 404:
            return None
        if answer.status_code >= 400:
            raise PipelineError(f"reading {VERSION_PATH} at {sha}: {answer.status_code}")
        content = base64.b64decode(answer.json()["content"]).decode("utf-8")
        return content.strip() or None

    # -- shipping ------------------------------------------------------------------------------
    def waiting(self) -> list[dict[str, Any]]:
        """The environment's deployments no one has started to ship (no status), oldest first."""
        listed = self._call(
            "GET",
            f"/repos/{self.repo}/deployments",
            params={"environment": self.environment, "per_page": 100},
        )
        fresh = [d for d in listed if d["id"] not in self._handled]
        waiting = []
        for deployment in sorted(fresh, key=lambda d: int(d["id"])):
            statuses = self._call(
                "GET", f"/repos/{self.repo}/deployments/{deployment['id']}/statuses"
            )
            if statuses:
                # Someone else is shipping it (or did): not ours.
                self._handled.add(deployment["id"])
            else:
                waiting.append(deployment)
        return waiting

    def ship(self, deployment: dict[str, Any]) -> Shipment:
        """Ship one deployment: in_progress, the shop serves its version, then success."""
        deployment_id, sha = int(deployment["id"]), str(deployment["sha"])
        self._handled.add(deployment_id)
        version = self._version_at(sha)
        payload = deployment.get("payload")
        by_guard = isinstance(payload, dict) and GUARD_PAYLOAD_KEY in payload
        if version is None:
            self._post_status(
                deployment_id, "failure", NOTHING_TO_SHIP.format(path=VERSION_PATH, sha=sha[:7])
            )
            state = "failure"
        else:
            self._post_status(deployment_id, "in_progress", SHIPPING.format(version=version))
            self.shop.deploy(version)
            self._post_status(deployment_id, "success", SHIPPED.format(version=version))
            state = "success"
        shipment = Shipment(deployment_id, sha, version, state, by_guard, self.shop.url)
        self.shipments.append(shipment)
        if self._on_shipped is not None:
            self._on_shipped(shipment)
        return shipment

    def poll_once(self) -> list[Shipment]:
        """Ship every deployment waiting now, oldest first."""
        return [self.ship(deployment) for deployment in self.waiting()]

    # -- in the background ---------------------------------------------------------------------
    def start(self) -> Pipeline:
        self._thread = threading.Thread(target=self._run, name="demo-pipeline", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (requests.RequestException, PipelineError, KeyError, ValueError) as error:
                # A pipeline retries on its next look; the story says what went wrong.
                if self._on_error is not None:
                    self._on_error(error)
            self._stop.wait(self._poll_interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT_S * 4)
            self._thread = None
        self._session.close()
