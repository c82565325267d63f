"""Probes: HTTP checks, Prometheus and CloudWatch metrics, each observation a ProbeResult."""

from guard.probes.cloudwatch import CloudWatchProber
from guard.probes.http import HttpProber
from guard.probes.network import (
    ALLOW_ALL,
    DEFAULT_DENIED_NETWORKS,
    DeniedNetwork,
    NetworkPolicy,
    NetworkRefusedError,
)
from guard.probes.prometheus import PrometheusProber
from guard.probes.suite import ProbeSuite
from guard.probes.transport import open_session

__all__ = [
    "ALLOW_ALL",
    "DEFAULT_DENIED_NETWORKS",
    "CloudWatchProber",
    "DeniedNetwork",
    "HttpProber",
    "NetworkPolicy",
    "NetworkRefusedError",
    "ProbeSuite",
    "PrometheusProber",
    "open_session",
]
