"""What the failing checks answered: one excerpt per distinct failure, trimmed to a budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guard.incidents.markdown import fence_for, printable
from guard.outcomes import ProbeResult

MORE = "\n… ({count:,} more characters not shown)"


@dataclass(frozen=True)
class EvidenceItem:
    """One failing check's answer; identical answers in several rounds are shown once."""

    name: str
    phase: str
    rounds: tuple[int, ...]
    summary: str
    detail: str
    excerpt: str
    fence: str

    @property
    def where(self) -> str:
        """ "smoke" or "watch rounds 3, 4, 5"."""
        numbered = [n for n in self.rounds if n > 0]
        if not numbered:
            return self.phase
        word = "round" if len(numbered) == 1 else "rounds"
        return f"{self.phase} {word} {', '.join(str(n) for n in numbered)}"


@dataclass(frozen=True)
class EvidenceSet:
    items: tuple[EvidenceItem, ...]
    # Failures with an answer that did not fit in the item budget.
    left_out: int


def gather(results: Sequence[ProbeResult], *, items: int, chars: int) -> EvidenceSet:
    """Failing results with a response body, grouped by check and body, newest last."""
    groups: dict[tuple[str, str], list[ProbeResult]] = {}
    for result in sorted(results, key=lambda r: (r.round, r.at)):
        if result.failed and (result.evidence or result.detail):
            groups.setdefault((result.name, result.evidence), []).append(result)
    made = [_item(members, chars) for members in groups.values()]
    return EvidenceSet(tuple(made[:items]), max(0, len(made) - items))


def _item(members: Sequence[ProbeResult], chars: int) -> EvidenceItem:
    last = members[-1]
    body = printable(last.evidence).rstrip()
    excerpt = body[:chars]
    if len(body) > chars:
        excerpt = excerpt.rstrip() + MORE.format(count=len(body) - chars)
    return EvidenceItem(
        name=last.name,
        phase=last.phase.value,
        rounds=tuple(dict.fromkeys(r.round for r in members)),
        summary=last.summary,
        detail=last.detail,
        excerpt=excerpt,
        fence=fence_for(excerpt),
    )
