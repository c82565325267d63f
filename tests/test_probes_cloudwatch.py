"""CloudWatch alarms read over real HTTP from moto's server: each state, a missing alarm, errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import requests

from guard.outcomes import Phase, ProbeStatus
from guard.policy.models import MetricCheck
from guard.probes.cloudwatch import CloudWatchProber, aws_error_words
from tests.aws_world import use_moto

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import StateValueType

REGION = "us-east-1"


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials, no machine AWS config, and a fresh moto state."""
    use_moto(moto_url, monkeypatch)
    return moto_url


def cloudwatch(endpoint: str) -> CloudWatchClient:
    import boto3

    return boto3.client("cloudwatch", region_name=REGION, endpoint_url=endpoint)


def put_alarm(endpoint: str, name: str, state: StateValueType, reason: str = "-") -> None:
    client = cloudwatch(endpoint)
    client.put_metric_alarm(
        AlarmName=name,
        MetricName="p99",
        Namespace="Shop",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=2.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    client.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def alarm_metric(name: str = "shop-p99-latency") -> MetricCheck:
    return MetricCheck.model_validate(
        {"name": "p99 latency alarm", "cloudwatch_alarm": {"alarm_name": name, "region": REGION}}
    )


def test_alarm_state_fails_with_its_reason(aws: str) -> None:
    reason = "Threshold Crossed: 1 datapoint [3.4] was greater than the threshold (2.0)."
    put_alarm(aws, "shop-p99-latency", "ALARM", reason)
    result = CloudWatchProber(endpoint_url=aws, clock=lambda: 7.0).probe(
        alarm_metric(), round_number=2
    )
    assert result.status is ProbeStatus.FAIL
    assert (result.phase, result.round, result.at) == (Phase.METRIC, 2, 7.0)
    assert result.summary == "in ALARM"
    assert result.detail.startswith("CloudWatch alarm shop-p99-latency (us-east-1) is in ALARM")
    assert result.detail.endswith(f": {reason}.")
    assert not result.unreachable


def test_ok_state_passes(aws: str) -> None:
    put_alarm(aws, "shop-p99-latency", "OK", "Back to normal")
    result = CloudWatchProber(endpoint_url=aws).probe(alarm_metric())
    assert result.status is ProbeStatus.PASS
    assert result.detail == "CloudWatch alarm shop-p99-latency (us-east-1) is OK: Back to normal."


def test_insufficient_data_is_no_data(aws: str) -> None:
    put_alarm(aws, "shop-p99-latency", "INSUFFICIENT_DATA", "No datapoints")
    result = CloudWatchProber(endpoint_url=aws).probe(alarm_metric())
    assert result.status is ProbeStatus.NO_DATA
    assert result.summary == "INSUFFICIENT_DATA"
    assert result.detail == (
        "CloudWatch alarm shop-p99-latency (us-east-1) is in INSUFFICIENT_DATA state: "
        "No datapoints; no data to judge."
    )


def test_a_missing_alarm_is_no_data_saying_what_to_check(aws: str) -> None:
    put_alarm(aws, "another-alarm", "ALARM", "not ours")
    result = CloudWatchProber(endpoint_url=aws).probe(alarm_metric("shop-p99-latency"))
    assert result.status is ProbeStatus.NO_DATA
    assert result.detail == (
        "CloudWatch has no alarm named shop-p99-latency in us-east-1; check alarm_name and "
        "region in the policy (no data to judge)."
    )


def test_an_aws_error_is_no_data_with_its_code(aws: str) -> None:
    # Moto checks credentials from the next request on: "testing" is no known access key.
    requests.post(f"{aws}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        result = CloudWatchProber(endpoint_url=aws).probe(alarm_metric())
    finally:
        requests.post(f"{aws}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert result.status is ProbeStatus.NO_DATA
    assert result.summary == "AWS error InvalidClientTokenId"
    assert result.detail == (
        "CloudWatch alarm shop-p99-latency (us-east-1) could not be read: AWS answered "
        "InvalidClientTokenId (The security token included in the request is invalid.); "
        "no data to judge."
    )


def test_an_unreachable_endpoint_is_no_data(aws: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CloudWatchProber(endpoint_url=f"http://127.0.0.1:{port}").probe(alarm_metric())
    assert result.status is ProbeStatus.NO_DATA
    assert result.summary == "AWS unreachable"
    assert not result.unreachable


def test_importing_the_probes_does_not_import_boto3() -> None:
    code = "import sys, guard.probes; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ({"Code": "AccessDenied", "Message": "not allowed"}, ("AccessDenied", "not allowed")),
        ({"Code": "502", "Message": "<html><h1>Bad Gateway</h1></html>"}, ("502", "")),
        ({}, ("unknown", "")),
    ],
)
def test_aws_error_words(error: dict[str, str], words: tuple[str, str]) -> None:
    assert aws_error_words(error) == words
