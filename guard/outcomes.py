"""The vocabulary every part of a verification speaks: results, reasons, verdicts, severity."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import total_ordering


def format_latency(seconds: float) -> str:
    """120 ms below a second, 2.5 s above it: the way people read response times."""
    milliseconds = round(seconds * 1000)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    return f"{seconds:.1f} s"


class Phase(StrEnum):
    """Where in a verification a probe result was taken."""

    SMOKE = "smoke"
    WATCH = "watch"
    METRIC = "metric"


class ProbeStatus(StrEnum):
    """What one probe found: a pass, a fail, or nothing to judge by."""

    PASS = "pass"  # noqa: S105 - a verdict word, not a password
    FAIL = "fail"
    # Metrics that return no series, or probes that could not be judged: never a pass.
    NO_DATA = "no_data"


@dataclass(frozen=True)
class ProbeResult:
    """One probe's observation, taken at `at` (seconds on the verification's clock)."""

    name: str
    phase: Phase
    status: ProbeStatus
    at: float
    # 0 for smoke checks; 1..n for the watch round the result belongs to.
    round: int = 0
    latency_s: float | None = None
    # A metric's value (the worst sample of a vector), when there was one.
    value: float | None = None
    # True when the target could not be reached at all (DNS, refused, TLS, timeout).
    unreachable: bool = False
    # Short: "HTTP 503 in 120 ms". Shown in tables.
    summary: str = ""
    # A sentence a person can act on: what was asked, what came back, what was expected.
    detail: str = ""
    status_code: int | None = None
    # The start of the response body (at most 64 KiB), kept as evidence.
    evidence: str = ""

    @property
    def failed(self) -> bool:
        return self.status is ProbeStatus.FAIL


# The fields of a ProbeResult, which the probe_results table stores under the same names.
PROBE_RESULT_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(ProbeResult))


class VerdictKind(StrEnum):
    """The outcome of a verification."""

    PASS = "pass"  # noqa: S105 - a verdict word, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@total_ordering
class Severity(StrEnum):
    """Incident severity; P0 is the most severe. Comparisons follow severity, not text."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def rank(self) -> int:
        """3 for P0 down to 0 for P3, so that `max` picks the most severe."""
        return 3 - int(self.value[1])

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    # str already defines these, so total_ordering leaves them comparing text ("P0" < "P1"):
    # without them `max` and `>=` would rank P3 above P0.
    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    @property
    def response_target(self) -> str:
        return RESPONSE_TARGETS[self]

    @property
    def label(self) -> str:
        return SEVERITY_TITLES[self]


RESPONSE_TARGETS = {
    Severity.P0: "15 min",
    Severity.P1: "1 h",
    Severity.P2: "4 h",
    Severity.P3: "24 h",
}
SEVERITY_TITLES = {
    Severity.P0: "critical",
    Severity.P1: "high",
    Severity.P2: "medium",
    Severity.P3: "low",
}


@dataclass(frozen=True)
class Reason:
    """Why a verdict is what it is: the observed value against the condition, over a window."""

    # What the reason is about: a check name ("home page") or a threshold ("error_rate").
    subject: str
    observed: str
    condition: str
    window: str
    samples: int
    # One sentence that stands on its own in a check run, an incident or a job summary.
    message: str
    # The severity this reason alone would justify.
    severity: Severity = Severity.P1

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "observed": self.observed,
            "condition": self.condition,
            "window": self.window,
            "samples": self.samples,
            "message": self.message,
            "severity": self.severity.value,
        }


@dataclass(frozen=True)
class Verdict:
    """A verification's verdict with every reason for it, and its severity when it warrants one."""

    kind: VerdictKind
    reasons: tuple[Reason, ...]
    # None for a clean pass; P3/P2 warnings may ride on a pass; fails always carry one.
    severity: Severity | None
    decided_at: float
    rounds_done: int = 0
    rounds_planned: int = 0
    # Warnings that did not decide the verdict (a failed probe that recovered, ...).
    warnings: tuple[Reason, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.kind is VerdictKind.PASS
