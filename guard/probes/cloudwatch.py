"""CloudWatch alarms as a metric: ALARM fails the round, OK passes, anything else is no data."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from guard.outcomes import Phase, ProbeResult, ProbeStatus
from guard.policy.models import CloudWatchAlarm, MetricCheck
from guard.probes.wording import shorten

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

_XML_CODE = re.compile(r"<Code>([^<]*)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 10


def _alarm_words(alarm: CloudWatchAlarm) -> str:
    return f"CloudWatch alarm {alarm.alarm_name} ({alarm.region})"


def _since(state: dict[str, Any]) -> str:
    updated = state.get("StateUpdatedTimestamp")
    return f" since {updated:%Y-%m-%d %H:%M:%S %Z}".rstrip() if updated else ""


def aws_error_words(error: Mapping[str, Any]) -> tuple[str, str]:
    """The error code and message of a failed AWS call, readable.

    An endpoint that answers in another protocol than the client asked for (some emulators,
    a proxy's error page) leaves botocore with the HTTP status as the code and the raw body
    as the message; the code and message are then read from the XML when it has them.
    """
    code = str(error.get("Code") or "unknown")
    message = str(error.get("Message") or "").strip()
    if message.startswith("<"):
        inner_code = _XML_CODE.search(message)
        inner_message = _XML_MESSAGE.search(message)
        code = inner_code.group(1).strip() if inner_code else code
        message = inner_message.group(1).strip() if inner_message else ""
    return code, shorten(message, 200)


class CloudWatchProber:
    """Reads alarm states with boto3, one client per region, imported only when first needed."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._clock = clock
        self._clients: dict[str, CloudWatchClient] = {}

    def _client(self, region: str) -> CloudWatchClient:
        if region not in self._clients:
            # Imported here: boto3 takes a while to load and most verifications never need it.
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
                retries={"max_attempts": 2, "mode": "standard"},
            )
            self._clients[region] = boto3.client(
                "cloudwatch", region_name=region, endpoint_url=self._endpoint_url, config=config
            )
        return self._clients[region]

    def probe(self, metric: MetricCheck, *, round_number: int = 0) -> ProbeResult:
        """The alarm's state as a result. Never raises for AWS, credentials or a missing alarm."""
        if metric.cloudwatch_alarm is None:
            raise ValueError(f"{metric.name} is not a CloudWatch alarm metric")
        alarm = metric.cloudwatch_alarm
        started_at = self._clock()

        def result(status: ProbeStatus, summary: str, detail: str) -> ProbeResult:
            return ProbeResult(
                name=metric.name,
                phase=Phase.METRIC,
                status=status,
                at=started_at,
                round=round_number,
                summary=summary,
                detail=detail,
            )

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client(alarm.region).describe_alarms(
                AlarmNames=[alarm.alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
        except ClientError as error:
            code, message = aws_error_words(error.response.get("Error", {}))
            return result(
                ProbeStatus.NO_DATA,
                f"AWS error {code}",
                f"{_alarm_words(alarm)} could not be read: AWS answered {code}"
                + (f" ({message})" if message else "")
                + "; no data to judge.",
            )
        except BotoCoreError as error:
            return result(
                ProbeStatus.NO_DATA,
                "AWS unreachable",
                f"{_alarm_words(alarm)} could not be read: {shorten(str(error), 200)}; "
                "no data to judge.",
            )
        found: list[Any] = [*answer.get("MetricAlarms", []), *answer.get("CompositeAlarms", [])]
        if not found:
            return result(
                ProbeStatus.NO_DATA,
                "alarm not found",
                f"CloudWatch has no alarm named {alarm.alarm_name} in {alarm.region}; check "
                "alarm_name and region in the policy (no data to judge).",
            )
        state: dict[str, Any] = found[0]
        value = state.get("StateValue", "")
        reason = shorten(str(state.get("StateReason", "")).strip(), 400)
        because = f": {reason}" if reason else ""
        if value == "ALARM":
            return result(
                ProbeStatus.FAIL,
                "in ALARM",
                f"{_alarm_words(alarm)} is in ALARM{_since(state)}{because}.",
            )
        if value == "OK":
            return result(ProbeStatus.PASS, "OK", f"{_alarm_words(alarm)} is OK{because}.")
        return result(
            ProbeStatus.NO_DATA,
            value or "no state",
            f"{_alarm_words(alarm)} is in {value or 'no'} state{because}; no data to judge.",
        )
