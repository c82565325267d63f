"""What `deploy-guard demo` says: every line of its story, in one place."""

from __future__ import annotations

INTRO = (
    "deploy-guard demo: a bad deployment caught, rolled back and filed as an incident, "
    "with a local GitHub, on this machine only (127.0.0.1)."
)
STAMP = "[{seconds:6.1f}s] "

SANDBOX_READY = (
    "GitHub sandbox at {url}: {repo} holds {policy} (rollback by redeploy; smoke checks, "
    "then a watch every {interval} for {duration}); developer @{developer}; "
    'GitHub App "{app}" (id {app_id}) installed.'
)
SHOP_READY = "Example shop at {url} (nothing shipped yet)."
SERVE_STARTING = (
    "Starting `deploy-guard serve` at {url}: it signs in as the App (GUARD_GITHUB_APP_ID={app_id}, "
    "GUARD_GITHUB_API_URL={api}), keeps SQLite and its job queue in {directory}, and runs "
    "embedded job workers."
)
PRIVATE_NETWORKS = (
    "GUARD_ALLOW_PRIVATE_NETWORKS=true: the example shop listens on 127.0.0.1, which the "
    "guard's probes refuse by default (keep it false in production)."
)
SERVE_READY = (
    "serve is ready; the sandbox signs `deployment` and `deployment_status` webhooks with the "
    "shared secret and delivers them to {webhook_url}."
)
STEP_V1 = '1. @{developer} pushes v1 ({sha}: "{message}") and deploys it to {environment}.'
STEP_V2 = '2. @{developer} pushes v2 ({sha}: "{message}") and deploys it to {environment}.'
STEP_REMEDY = (
    "3. The guard's move: roll back, file the incident, verify the rollback, say it is restored."
)
SHIPPED = (
    "pipeline shipped deployment {id}: the shop now serves {version}; status success with "
    "environment_url {url}"
)
SHIPPED_ROLLBACK = (
    "pipeline shipped the rollback, deployment {id}: the shop serves {version} again; "
    "status success with environment_url {url}"
)
NOTHING_SHIPPED = "pipeline could not ship deployment {id}: no version at {sha}"
PIPELINE_ERROR = "pipeline: {error} (it tries again)"
DEPLOY_FAILED = "the pipeline could not create the {label} deployment: {error}"

COMPLETED = (
    "The story completed in {seconds:.1f} s: v1 passed, v2 failed, deploy-guard redeployed "
    "v1's commit, filed one incident, verified the rollback and commented that the service "
    "is restored."
)
NOT_COMPLETED = "The story did not complete. What did not happen:"
TIMED_OUT = "The story did not complete within {seconds:.0f} s. What did not happen:"
MISSING_LINE = "  - {gap}"
START_FAILED = "The demo could not start: {error}"
SERVE_LOG_TAIL = "The end of serve's log ({path}):"

INCIDENT_HEADING = "The incident the guard filed, #{number}: {title}"
INCIDENT_RULE = "-" * 78

WHERE_TO_LOOK = "Where to look:"
WHERE_RUNS = "  run pages on serve    {runs}"
WHERE_RUN = "{label} {url}"
WHERE_ISSUE = "  the incident          {url} (comments: {url}/comments)"
WHERE_DEPLOYMENTS = "  the deployments       {url}"
WHERE_LOG = "  serve's log           {path}"
WHILE_RUNNING = (
    "  (these answer while the demo runs: `deploy-guard demo --keep-running` keeps everything "
    "up until Ctrl-C)"
)
KEEPING = "Everything keeps running; press Ctrl-C to stop it and clean up."
CLEANED_UP = "Stopped serve, the pipeline, the shop and the sandbox; removed the temporary files."
INTERRUPTED = "Interrupted: everything the demo started is stopped and its files removed."
