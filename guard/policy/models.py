"""The policy file (.github/deploy-guard.yml, version 1) as pydantic models: every key validated."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guard.outcomes import Severity
from guard.policy.quoting import quote_value
from guard.policy.types import Condition, Fraction, Seconds, Status, parse_status_spec

HTTP_METHODS = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
RollbackStrategy = Literal["redeploy", "revert", "revert_pr", "aws_ecs", "aws_lambda", "workflow"]
JsonValue = Any


class PolicyModel(BaseModel):
    """Strict base: unknown keys are errors (a typo must not silently switch a check off)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Expectation(PolicyModel):
    """What a healthy response looks like."""

    status: Status = Field(
        default_factory=lambda: parse_status_spec("2xx"),
        description='An int, a list of ints, or a class such as "2xx". Default 2xx.',
    )
    body_contains: str | None = Field(None, description="A substring the body must contain.")
    json_values: dict[str, JsonValue] | None = Field(
        None,
        alias="json",
        description="JSONPath (or a plain top-level key) -> the value expected there.",
    )
    max_latency: Seconds | None = Field(None, description="Slower than this is a failure.")


class HttpRequest(PolicyModel):
    """A request other than a plain GET."""

    method: HTTP_METHODS = "GET"
    path: str = Field(description="Path relative to the environment URL, or an absolute URL.")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue | None = Field(None, alias="json", description="A JSON request body.")
    body: str | None = Field(None, description="A raw request body.")

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


class HttpCheck(PolicyModel):
    """One HTTP check: a smoke check or a watch probe."""

    name: str = Field(min_length=1)
    get: str | None = Field(None, description="Shorthand for a GET of this path.")
    request: HttpRequest | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)
    timeout: Seconds | None = Field(
        None, description="Connect and read timeout for this check (default 10s)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> HttpCheck:
        if (self.get is None) == (self.request is None):
            raise ValueError("give exactly one of get or request")
        return self

    @property
    def method(self) -> str:
        return self.request.method if self.request else "GET"

    @property
    def path(self) -> str:
        if self.request is not None:
            return self.request.path
        assert self.get is not None  # guaranteed by _one_target
        return self.get

    @property
    def all_headers(self) -> dict[str, str]:
        return {**self.headers, **(self.request.headers if self.request else {})}


class WatchThresholds(PolicyModel):
    """When the watch fails, as soon as any one of these is crossed."""

    consecutive_failures: int | None = Field(None, ge=1)
    error_rate: Fraction | None = None
    p95_latency: Seconds | None = None


class Watch(PolicyModel):
    """Repeated probes over a bake window after the smoke checks pass."""

    # The schema shows defaults as a policy writes them ("15s"), not as seconds.
    interval: Seconds = Field(
        15.0, description="Time between watch rounds.", json_schema_extra={"default": "15s"}
    )
    duration: Seconds = Field(
        600.0, description="The bake window's length.", json_schema_extra={"default": "10m"}
    )
    probes: list[HttpCheck] = Field(default_factory=list)
    fail_when: WatchThresholds = Field(
        default_factory=lambda: WatchThresholds(consecutive_failures=3)
    )
    min_samples: int = Field(1, ge=1, description="Fewer samples than this is no evidence.")
    on_no_data: Literal["inconclusive", "fail", "pass"] = "inconclusive"

    @model_validator(mode="after")
    def _window_holds_a_round(self) -> Watch:
        if self.interval > self.duration:
            raise ValueError("interval is longer than duration: the watch would run no round")
        return self


class PrometheusQuery(PolicyModel):
    url: str = Field(description="Base URL of the Prometheus server.")
    query: str = Field(min_length=1, description="An instant PromQL query.")
    headers: dict[str, str] = Field(default_factory=dict)


class CloudWatchAlarm(PolicyModel):
    alarm_name: str = Field(min_length=1)
    region: str = Field(min_length=1)


class MetricCheck(PolicyModel):
    """An external signal read on every watch round."""

    name: str = Field(min_length=1)
    prometheus: PrometheusQuery | None = None
    cloudwatch_alarm: CloudWatchAlarm | None = None
    fail_when: Condition | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MetricCheck:
        if (self.prometheus is None) == (self.cloudwatch_alarm is None):
            raise ValueError("give exactly one of prometheus or cloudwatch_alarm")
        if self.prometheus is not None and self.fail_when is None:
            raise ValueError('a prometheus metric needs fail_when (example: "> 0.05")')
        return self


class AwsTarget(PolicyModel):
    region: str
    cluster: str | None = None
    service: str | None = None
    function: str | None = None
    alias: str | None = None


class WorkflowTarget(PolicyModel):
    file: str = Field(description="The workflow file name or id, e.g. rollback.yml.")
    ref: str = Field("main", description="The ref to run the workflow on.")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="Inputs, templated: {{ last_good.sha }}, ..."
    )


class Rollback(PolicyModel):
    strategy: RollbackStrategy = "redeploy"
    min_severity: Severity = Field(
        Severity.P1, description="Below this severity: incident only, no rollback."
    )
    aws: AwsTarget | None = None
    workflow: WorkflowTarget | None = None

    @model_validator(mode="after")
    def _targets(self) -> Rollback:
        if self.strategy == "aws_ecs" and (
            self.aws is None or not (self.aws.cluster and self.aws.service)
        ):
            raise ValueError("strategy aws_ecs needs aws: {region, cluster, service}")
        if self.strategy == "aws_lambda" and (
            self.aws is None or not (self.aws.function and self.aws.alias)
        ):
            raise ValueError("strategy aws_lambda needs aws: {region, function, alias}")
        if self.strategy == "workflow" and self.workflow is None:
            raise ValueError("strategy workflow needs workflow: {file, ref, inputs}")
        return self


class Incident(PolicyModel):
    template: str | None = Field(None, description="A GitHub issue template of the repository.")
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(
        default_factory=list, description="deployer, committer, codeowners, or GitHub logins."
    )


class Notify(PolicyModel):
    slack_webhook: str | None = None


class OnFailure(PolicyModel):
    action: Literal["rollback", "notify"] = Field(
        "notify", description="rollback: undo the deployment; notify: incident, fix forward."
    )
    rollback: Rollback = Field(default_factory=Rollback)
    incident: Incident = Field(default_factory=Incident)
    notify: Notify = Field(default_factory=Notify)


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = frozenset(_WEEKDAYS) | {
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
}
NOT_A_TIME = '{value} is not a time (examples: "Fri 16:00", "16:00", "2026-12-24 18:00")'
NOT_A_DAY = "{value} is not a weekday or a date (examples: Fri, 2026-12-24)"
NOT_A_TIME_ZONE = "{value} is not a time zone (examples: UTC, Europe/Berlin)"


def _check_window_edge(value: str) -> str:
    """`Fri 16:00`, `16:00` (every day) or `2026-12-24 18:00` (one date)."""
    parts = value.split()
    clock = parts[-1] if parts else ""
    hour, _, minute = clock.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ValueError(NOT_A_TIME.format(value=quote_value(value)))
    if len(parts) == 2:
        day = parts[0]
        if day.lower() not in _WEEKDAY_NAMES and not _is_iso_date(day):
            raise ValueError(NOT_A_DAY.format(value=quote_value(day)))
    elif len(parts) != 1:
        raise ValueError(NOT_A_TIME.format(value=quote_value(value)))
    return value


def _is_iso_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class FreezeWindow(PolicyModel):
    from_: Annotated[str, Field(alias="from")]
    to: str
    timezone: str = "UTC"

    @field_validator("from_", "to")
    @classmethod
    def _edge(cls, value: str) -> str:
        return _check_window_edge(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(NOT_A_TIME_ZONE.format(value=quote_value(value))) from None
        return value


class Gate(PolicyModel):
    block_while_incident_open: bool = False
    freeze: list[FreezeWindow] = Field(default_factory=list)


class Environment(PolicyModel):
    """Everything the guard does for one deployment environment."""

    url: str | None = Field(
        None, description="Base URL for checks. Defaults to the deployment's environment_url."
    )
    mode: Literal["enforce", "shadow"] | None = Field(
        None, description="Overrides the top-level mode for this environment."
    )
    smoke: list[HttpCheck] = Field(default_factory=list)
    watch: Watch | None = None
    metrics: list[MetricCheck] = Field(default_factory=list)
    on_failure: OnFailure = Field(default_factory=OnFailure)
    gate: Gate = Field(default_factory=Gate)


class Policy(PolicyModel):
    """The whole policy file."""

    version: Literal[1]
    policy_ref: Literal["deployed", "default_branch"] = "deployed"
    mode: Literal["enforce", "shadow"] = "enforce"
    environments: dict[str, Environment] = Field(min_length=1)

    def effective_mode(self, environment: str) -> Literal["enforce", "shadow"]:
        return self.environments[environment].mode or self.mode
