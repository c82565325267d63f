"""Every probe of one environment's policy over one session: the smoke checks and each round."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import requests

from guard.outcomes import Phase, ProbeResult
from guard.policy.models import Environment, HttpCheck, MetricCheck
from guard.policy.secrets import secret_values
from guard.probes.cloudwatch import CloudWatchProber
from guard.probes.http import NO_BASE_URL_HINT, HttpProber
from guard.probes.network import NetworkPolicy
from guard.probes.prometheus import PrometheusProber
from guard.probes.transport import open_session


class ProbeSuite:
    """Runs an environment's checks for one verification; close it (or use `with`) when done."""

    def __init__(
        self,
        environment: Environment,
        *,
        base_url: str | None,
        network: NetworkPolicy,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        aws_endpoint_url: str | None = None,
        no_base_url_hint: str = NO_BASE_URL_HINT,
        session: requests.Session | None = None,
    ) -> None:
        self.environment = environment
        # The policy's url wins; the deployment's URL (or --url) fills in when it has none.
        self.base_url = environment.url or base_url
        environ = os.environ if environ is None else environ
        # A session handed in (the job workers reuse theirs) is its owner's to close.
        self._owns_session = session is None
        self.session = session or open_session(network, secret_values(environ))
        self.http = HttpProber(
            environ=environ,
            clock=clock,
            monotonic=monotonic,
            session=self.session,
            no_base_url_hint=no_base_url_hint,
        )
        self.prometheus = PrometheusProber(
            self.session, environ=environ, clock=clock, monotonic=monotonic
        )
        self.cloudwatch = CloudWatchProber(endpoint_url=aws_endpoint_url, clock=clock)

    def __enter__(self) -> ProbeSuite:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    @property
    def watch_probes(self) -> list[HttpCheck]:
        return self.environment.watch.probes if self.environment.watch else []

    def run_check(self, check: HttpCheck, phase: Phase, round_number: int) -> ProbeResult:
        return self.http.probe(check, self.base_url, phase=phase, round_number=round_number)

    def run_metric(self, metric: MetricCheck, round_number: int) -> ProbeResult:
        if metric.prometheus is not None:
            return self.prometheus.probe(metric, round_number=round_number)
        return self.cloudwatch.probe(metric, round_number=round_number)

    def run_smoke(self) -> list[ProbeResult]:
        """Each smoke check once, in policy order (phase SMOKE, round 0)."""
        return [self.run_check(check, Phase.SMOKE, 0) for check in self.environment.smoke]

    def run_round(self, number: int) -> list[ProbeResult]:
        """One watch round: every watch probe, then every metric, all marked with `number`."""
        probes = [self.run_check(check, Phase.WATCH, number) for check in self.watch_probes]
        metrics = [self.run_metric(metric, number) for metric in self.environment.metrics]
        return probes + metrics
