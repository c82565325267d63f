"""Every sentence a remedy says to people: in plans, timelines, statuses, commits and pulls."""

from __future__ import annotations

# What a strategy would do, in words ("redeploy v1.3.2 (abc1234) to production").
ACTION_REDEPLOY = "redeploy {target} to {environment}"
ACTION_REVERT = "revert {branch} to {target} with a new commit on top of {bad}"
ACTION_REVERT_PR = "open a pull request that reverts {good}..{bad} on {branch}"
ACTION_WORKFLOW = "dispatch the rollback workflow {file} on {ref}{inputs}"
ACTION_ECS = "point ECS service {service} (cluster {cluster}) back at task definition {target}"
ACTION_LAMBDA = "point Lambda alias {alias} of {function} back at version {target}"

# How a plan reads as a whole.
WOULD_HAVE = "Shadow mode: the guard would have rolled back{to}: {action}. It changed nothing."
DRY_RUN = "Dry run: the guard would {action}. It changed nothing."
WILL = "Roll back: {action}."

# Why nothing is done.
REMEDY_OF_REMEDY = (
    "Deployment {id} was itself a rollback by deploy-guard, and a rollback is never rolled back "
    "again: a person must act now."
)
SUPERSEDED = (
    "Deployment {id} was superseded by deployment {newer} ({sha}) to {environment}: it no "
    "longer runs, so it is not rolled back."
)
NO_GOOD_REF = (
    "There is no verified-good deployment of {environment} to roll back to (no passed "
    "verification on record, and GitHub shows no earlier successful deployment): a person "
    "must choose a target, e.g. `deploy-guard rollback --to REF`."
)
SAME_COMMIT = (
    "The rollback target is {sha}, the very commit deployment {id} to {environment} runs: "
    "rolling back would change nothing."
)
BUSY = (
    "Deployment {other} to {environment} is being rolled back right now; deploy-guard does "
    "not start a second rollback of the same environment at the same time."
)
NO_TARGET = "The strategy {strategy} needs its target settings in the policy: {problem}"

# Timeline events (kind -> sentence).
CLAIMED = "Remedy claimed ({strategy}): {action}."
STARTED = "Remedy started: {action}."
RESUMED = "Remedy resumed after an interruption: {action}."
DONE = "Remedy done: {result}"
FAILED = "Remedy failed: {error} A person must act."
REFUSED = "No remedy: {why}"
DESCRIBED = "{summary}"
FELL_BACK = "The revert could not go onto {branch} directly ({why}); opening a pull request."
ALREADY = "Deployment {id} already has a remedy ({strategy}, {state})."
ALREADY_RUNNING = (
    "Deployment {id}'s remedy ({strategy}) is in progress elsewhere; it is resumed there, or "
    "here once it has made no progress for {minutes} minutes."
)

# Results of the strategies.
REDEPLOYED = "created deployment {id} of {target} to {environment}."
REVERTED = "moved {branch} to {commit}, a commit with the tree of {target}."
PULL_OPENED = "opened pull request #{number} reverting {good}..{bad} on {branch}: {url}"
WORKFLOW_DISPATCHED = (
    "dispatched {file} on {ref}; the next deployment to {environment} is taken as the rollback's "
    "deployment and verified like any other."
)
AWS_MOVED = "{what} is back on {target} (it ran {current})."

# The failed deployment's status (GitHub keeps at most 140 characters).
STATUS_ROLLED_BACK = "deploy-guard: verification failed ({reason}); {result}"
STATUS_BY_HAND = "deploy-guard: {result} by hand ({reason})"
MANUAL_REASON = "a person ran deploy-guard rollback"
STATUS_RESULT_REDEPLOY = "rolled back to {target}"
STATUS_RESULT_REVERT = "reverted to {target}"
STATUS_RESULT_PULL = "revert pull request #{number}"
STATUS_RESULT_OTHER = "rolled back with {strategy}"
DEFAULT_REASON = "the deployment failed verification"

# Git: the revert commit and the revert pull request.
REVERT_MARKER = "(deploy-guard: deployment {id} failed verification)"
REVERT_SUBJECT = 'Revert "{range}"'
REVERT_BODY = "This reverts commits {good}..{bad} {marker}."
PULL_TITLE = "Revert deployment {id} to {environment} (deploy-guard)"
PULL_MARKER = "<!-- deploy-guard:remedy deployment={id} -->"
BRANCH_MOVED = "{branch} moved on to {head} after the failed commit {bad}"
REVERT_CONFLICT = (
    "git revert of {good}..{bad} on top of {branch} ({head}) conflicts in {files}; nothing was "
    "pushed, and deploy-guard does not guess a resolution."
)
NOTHING_TO_REVERT = "{branch} already undoes {good}..{bad}: there is nothing left to revert."
EMPTY_RANGE = "{good}..{bad} holds no commits to revert."
DISPATCH_UNCERTAIN = (
    "an earlier attempt may have dispatched {file} already and GitHub offers no way to check; "
    "it is not sent twice."
)
PULL_BODY = """\
Deployment {id} of `{bad}` to **{environment}** failed verification; deploy-guard reverts it here.

**Why it failed**
{reasons}

**What this reverts**: `{good}..{bad}` ({count}), reverted with git on `{branch}` at `{head}`.

{commits}

Last verified-good: {target}.{run}

Merge this to roll {environment} back through your pipeline; close it to keep what runs now.

{marker}
"""
PULL_RUN = " Verification run: {url}"
