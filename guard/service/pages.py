"""The run pages: recent verifications and one run's story, as HTML and as JSON."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from guard.service.probe_chart import probe_chart_svg
from guard.service.runs import RECENT_LIMIT, recent_runs, run_detail
from guard.service.state import service_state

blueprint = Blueprint("pages", __name__, template_folder="templates")

MAX_LIMIT = 200
# Row ids are 64-bit: a larger number in the URL is no run (a 404), not a database overflow.
MAX_ROW_ID = 2**63 - 1


def _limit() -> int:
    raw = request.args.get("limit", str(RECENT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        abort(400, description=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


@blueprint.get("/")
def index() -> ResponseReturnValue:
    """Recent verifications, newest first (`?repository=owner/name` narrows them)."""
    repository = request.args.get("repository") or None
    with service_state().read_sessions() as session:
        runs = recent_runs(session, repository=repository, limit=_limit())
    return render_template("runs.html", runs=runs, repository=repository)


@blueprint.get(f"/runs/<int(max={MAX_ROW_ID}):run_id>")
def run_page(run_id: int) -> ResponseReturnValue:
    """One run: verdict, reasons, checks, probe chart, timeline, remedy and incident."""
    with service_state().read_sessions() as session:
        detail = run_detail(session, run_id)
    if detail is None:
        abort(404, description=f"there is no run {run_id}")
    return render_template("run.html", run=detail, chart=probe_chart_svg(detail.results))


@blueprint.get("/api/v1/runs")
def runs_json() -> ResponseReturnValue:
    repository = request.args.get("repository") or None
    with service_state().read_sessions() as session:
        runs = recent_runs(session, repository=repository, limit=_limit())
    return jsonify(runs=[run.as_dict() for run in runs])


@blueprint.get(f"/api/v1/runs/<int(max={MAX_ROW_ID}):run_id>")
def run_json(run_id: int) -> ResponseReturnValue:
    with service_state().read_sessions() as session:
        detail = run_detail(session, run_id)
    if detail is None:
        abort(404, description=f"there is no run {run_id}")
    return jsonify(detail.as_dict())
