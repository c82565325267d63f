"""Prometheus metrics: an instant query, judged by `fail_when`; no answer is never a pass."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.policy.models import MetricCheck, PrometheusQuery
from guard.policy.secrets import SecretError, expand_secrets, secret_values
from guard.policy.types import Comparison
from guard.probes.bodies import read_body
from guard.probes.failures import describe_request_error
from guard.probes.http import DEFAULT_TIMEOUT_S, REQUEST_ERRORS
from guard.probes.network import NetworkRefusedError
from guard.probes.wording import format_number, shorten, without_secrets

NO_DATA_HINT = "nothing to judge, so this is no data (never a pass)"


@dataclass(frozen=True)
class Sample:
    """One value of the answer, with the labels that name its series (empty for a scalar)."""

    labels: dict[str, str]
    value: float

    def describe_labels(self) -> str:
        inner = ", ".join(f'{key}="{value}"' for key, value in sorted(self.labels.items()))
        return "{" + inner + "}"


class UnusableAnswerError(Exception):
    """The answer is not one the guard can judge; `sentence` says why (after "returned ")."""

    def __init__(self, sentence: str, summary: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.summary = summary


def worst_sample(samples: list[Sample], condition: Comparison) -> Sample:
    """The sample that is furthest into (or closest to) the failing side of the condition."""
    threshold = condition.threshold
    if condition.op in (">", ">="):
        return max(samples, key=lambda s: s.value)
    if condition.op in ("<", "<="):
        return min(samples, key=lambda s: s.value)
    if condition.op == "==":
        return min(samples, key=lambda s: abs(s.value - threshold))
    return max(samples, key=lambda s: abs(s.value - threshold))


def _number(raw: Any) -> float:
    # Prometheus sends sample values as strings: "0.12", "NaN", "+Inf".
    return float(raw)


def parse_samples(document: Any) -> list[Sample]:
    """The samples of a successful instant query; raises UnusableAnswerError otherwise."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise UnusableAnswerError("an answer without data", "unusable answer")
    kind = data.get("resultType")
    result: Any = data.get("result")
    try:
        if kind == "scalar":
            return [Sample({}, _number(result[1]))]
        if kind == "vector":
            return [
                Sample(dict(item.get("metric", {})), _number(item["value"][1])) for item in result
            ]
    except (TypeError, KeyError, IndexError, ValueError):
        raise UnusableAnswerError(f"a {kind} the guard could not read", "unusable answer") from None
    if kind in ("matrix", "string"):
        what = "a range vector (matrix)" if kind == "matrix" else "a string"
        raise UnusableAnswerError(
            f"{what}; an instant vector or scalar is needed (drop the [range] selector, or wrap "
            "it in a function such as rate())",
            f"{kind} result",
        )
    raise UnusableAnswerError(f"an unknown result type {kind!r}", "unusable answer")


class PrometheusProber:
    """Reads Prometheus metrics over the verification's session (and so its network policy)."""

    def __init__(
        self,
        session: requests.Session,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._session = session
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._secrets = secret_values(self._environ)
        self._clock = clock
        self._monotonic = monotonic
        self._timeout_s = timeout_s

    def probe(self, metric: MetricCheck, *, round_number: int = 0) -> ProbeResult:
        """Query once and judge the answer. Never raises for Prometheus or the query."""
        if metric.prometheus is None or metric.fail_when is None:
            raise ValueError(f"{metric.name} is not a Prometheus metric with fail_when")
        source = metric.prometheus
        condition = metric.fail_when
        started_at = self._clock()
        asked = f'Prometheus query "{shorten(source.query, 120)}" at {source.url}'

        def result(status: ProbeStatus, summary: str, detail: str, **extra: Any) -> ProbeResult:
            outcome = ProbeResult(
                name=metric.name,
                phase=Phase.METRIC,
                status=status,
                at=started_at,
                round=round_number,
                summary=summary,
                detail=detail,
                **extra,
            )
            return without_secrets(outcome, self._secrets)

        try:
            samples = self._query(source)
        except SecretError as missing:
            return result(
                ProbeStatus.NO_DATA, "secret missing", f"{asked} was not sent: {missing}."
            )
        except NetworkRefusedError as refused:
            return result(ProbeStatus.NO_DATA, "refused by network policy", refused.sentence)
        except UnusableAnswerError as unusable:
            return result(
                ProbeStatus.NO_DATA, unusable.summary, f"{asked} returned {unusable.sentence}."
            )
        except REQUEST_ERRORS as error:
            # Prometheus being down says nothing about the deployed service: no data, and not
            # "unreachable", which would read as the service being down.
            failure = describe_request_error(error, source.url, self._timeout_s)
            return result(
                ProbeStatus.NO_DATA,
                f"Prometheus: {failure.summary}",
                f"{asked} {failure.problem}; {NO_DATA_HINT}.",
            )
        return self._judge(samples, condition, asked, result)

    @staticmethod
    def _judge(
        samples: list[Sample],
        condition: Comparison,
        asked: str,
        result: Callable[..., ProbeResult],
    ) -> ProbeResult:
        limit = f"fails when {condition.describe()}"
        if not samples:
            return result(
                ProbeStatus.NO_DATA,
                "no series",
                f"{asked} returned no series (an empty vector); {NO_DATA_HINT}: check the "
                "query, and that the service has traffic.",
            )
        numbers = [s for s in samples if not math.isnan(s.value)]
        failing = [s for s in numbers if condition.holds(s.value)]
        of_series = f" (worst of {len(samples)} series)" if len(samples) > 1 else ""
        if failing:
            worst = worst_sample(failing, condition)
            where = f" for {worst.describe_labels()}" if worst.labels else ""
            shown = format_number(worst.value)
            return result(
                ProbeStatus.FAIL,
                f"{shown} {condition.describe()}",
                f"{asked} returned {shown}{where}{of_series}; {limit}.",
                value=worst.value,
            )
        if len(numbers) < len(samples):
            nan_count = len(samples) - len(numbers)
            return result(
                ProbeStatus.NO_DATA,
                "NaN",
                f"{asked} returned NaN for {nan_count} of {len(samples)} series (a ratio over "
                f"no requests, for example); {NO_DATA_HINT}.",
                value=worst_sample(numbers, condition).value if numbers else None,
            )
        worst = worst_sample(numbers, condition)
        shown = format_number(worst.value)
        return result(
            ProbeStatus.PASS,
            shown,
            f"{asked} returned {shown}{of_series}; {limit}, and it does not.",
            value=worst.value,
        )

    def _query(self, source: PrometheusQuery) -> list[Sample]:
        base = expand_secrets(source.url, self._environ)
        headers = {k: expand_secrets(v, self._environ) for k, v in source.headers.items()}
        response = self._session.get(
            base.rstrip("/") + "/api/v1/query",
            params={"query": source.query},
            headers=headers,
            timeout=(self._timeout_s, self._timeout_s),
            stream=True,
        )
        try:
            body = read_body(response, monotonic=self._monotonic, budget_s=self._timeout_s)
        finally:
            response.close()
        try:
            document = json.loads(body.data)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise UnusableAnswerError(
                f"HTTP {response.status_code} with a body that is not Prometheus' JSON",
                f"HTTP {response.status_code}",
            )
        if document.get("status") != "success":
            kind = document.get("errorType", "error")
            message = shorten(str(document.get("error", "no message")), 300)
            raise UnusableAnswerError(
                f"HTTP {response.status_code}, {kind}: {message}", "query error"
            )
        return parse_samples(document)
