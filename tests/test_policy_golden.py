"""Every broken policy under fixtures/policies/invalid is reported exactly as its golden file says.

Regenerate the golden files after an intended wording change with:
    GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_policy_golden.py
and review the diff like any other change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.cli import main

INVALID_POLICIES = Path(__file__).parent / "fixtures" / "policies" / "invalid"
GOLDEN = Path(__file__).parent / "golden" / "policy"
UPDATE_GOLDEN = os.environ.get("GUARD_UPDATE_GOLDEN") == "1"
MISSING_GOLDEN = (
    "{golden} does not exist: write it with  GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest {test}  "
    "and review it"
)

FIXTURES = sorted(INVALID_POLICIES.glob("*.yml"))


def golden_path(fixture: Path) -> Path:
    return GOLDEN / f"{fixture.stem}.txt"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[fixture.stem for fixture in FIXTURES])
def test_invalid_policy_errors_match_their_golden_file(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run where the fixture lives so the file is named as a user would name it.
    monkeypatch.chdir(fixture.parent)
    result = CliRunner().invoke(main, ["validate", fixture.name])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    golden = golden_path(fixture)
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(result.stderr, encoding="utf-8")
    if not golden.exists():
        pytest.fail(MISSING_GOLDEN.format(golden=golden, test=Path(__file__).name))
    assert result.stderr == golden.read_text(encoding="utf-8")


def test_every_error_line_names_the_file_and_a_line() -> None:
    for fixture in FIXTURES:
        *errors, count = golden_path(fixture).read_text(encoding="utf-8").splitlines()
        assert errors, fixture.name
        for error in errors:
            name, line, _ = error.split(":", 2)
            assert name == fixture.name
            assert line.isdigit(), error
        assert count == f"{fixture.name}: invalid ({len(errors)} error{'s' * (len(errors) > 1)})"


def test_every_golden_file_has_its_fixture() -> None:
    stems = {fixture.stem for fixture in FIXTURES}
    orphans = sorted(path.name for path in GOLDEN.glob("*.txt") if path.stem not in stems)
    assert orphans == [], f"golden files without a fixture in {INVALID_POLICIES}: {orphans}"
