"""The OpenAPI 3.0 description of the guard's API, written by hand: what `GET /api/openapi.json`
serves, and what the schemathesis test holds the API to.

It describes the verifications API (OIDC-authenticated) and the run pages' JSON routes.
"""

from __future__ import annotations

from typing import Any

import guard
from guard.service.api_body import (
    MAX_ID,
    SHA_PATTERN,
    TEXT_LIMIT,
    TEXT_PATTERN,
    URL_LIMIT,
    URL_PATTERN,
)

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


_TEXT = {"type": "string"}
_URL = {"type": "string", "format": "uri"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every answer but a success: a status word, a stable code, a sentence.",
        "required": ["status", "error", "reason"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["rejected", "unauthorized", "forbidden", "not_found", "unavailable"],
            },
            "error": {
                "type": "string",
                "description": (
                    "missing_token, expired, not_yet_valid, wrong_audience, wrong_issuer, "
                    "unknown_key, wrong_algorithm, bad_signature, malformed, "
                    "owner_not_allowed, repository_mismatch, not_installed, not_json, "
                    "invalid_body, no_sha, deployment_not_found, other_environment, "
                    "not_found, github_refused, github_unavailable, queue_unavailable, ..."
                ),
            },
            "reason": {"type": "string", "description": "What went wrong and how to fix it."},
        },
    },
    "VerificationRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["environment"],
        "properties": {
            "environment": {
                "type": "string",
                "minLength": 1,
                "maxLength": TEXT_LIMIT,
                "pattern": TEXT_PATTERN,
                "description": "The environment deployed to, as GitHub names it.",
            },
            "deployment_id": {
                "nullable": True,
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": (
                    "The GitHub deployment to verify; it must be of the token's repository. "
                    "Without it the environment's newest deployment of the commit is "
                    "verified, or one is created."
                ),
            },
            "url": {
                "nullable": True,
                "type": "string",
                "maxLength": URL_LIMIT,
                "pattern": URL_PATTERN,
                "description": "Where the deployed service answers (else the policy's url).",
            },
            "sha": {
                "nullable": True,
                "type": "string",
                "pattern": SHA_PATTERN,
                "description": "The deployed commit; defaults to the token's sha claim.",
            },
            "ref": {
                "nullable": True,
                "type": "string",
                "minLength": 1,
                "maxLength": TEXT_LIMIT,
                "pattern": TEXT_PATTERN,
                "description": "The deployed ref; defaults to the token's ref claim.",
            },
        },
    },
    "VerificationStarted": {
        "type": "object",
        "required": ["id", "state", "deployment_id", "environment", "links"],
        "properties": {
            "id": {"type": "integer"},
            "state": _ref("State"),
            "deployment_id": {"type": "integer"},
            "environment": _TEXT,
            "links": {
                "type": "object",
                "required": ["self", "run"],
                "properties": {"self": _URL, "run": _nullable(_URL)},
            },
        },
    },
    "State": {
        "type": "string",
        "enum": ["queued", "smoke", "watching", "finished", "superseded", "error"],
    },
    "Check": {
        "type": "object",
        "required": ["name", "phase", "round", "status", "summary"],
        "properties": {
            "name": _TEXT,
            "phase": {"type": "string", "enum": ["smoke", "watch", "metric"]},
            "round": {"type": "integer", "minimum": 0},
            "status": {"type": "string", "enum": ["pass", "fail", "no_data"]},
            "summary": _TEXT,
            "latency_s": _nullable({"type": "number"}),
            "status_code": _nullable({"type": "integer"}),
        },
    },
    "Verification": {
        "type": "object",
        "required": [
            "id",
            "attempt",
            "latest",
            "state",
            "verdict",
            "severity",
            "reasons",
            "checks",
            "deployment",
            "created_at",
            "finished_at",
            "remedy",
            "incident",
            "links",
        ],
        "properties": {
            "id": {"type": "integer"},
            "attempt": {"type": "integer", "minimum": 1},
            "latest": {"type": "boolean"},
            "state": _ref("State"),
            "verdict": _nullable({"type": "string", "enum": ["pass", "fail", "inconclusive"]}),
            "severity": _nullable({"type": "string", "enum": ["P0", "P1", "P2", "P3"]}),
            "reasons": {
                "type": "array",
                "description": "Why the verdict is what it is, each with its evidence.",
                "items": {"type": "object"},
            },
            "checks": {"type": "array", "items": _ref("Check")},
            "deployment": {
                "type": "object",
                "required": ["id", "repository", "environment", "sha", "ref"],
                "properties": {
                    "id": {"type": "integer"},
                    "repository": _TEXT,
                    "environment": _TEXT,
                    "sha": _TEXT,
                    "ref": _TEXT,
                    "environment_url": _nullable(_TEXT),
                },
            },
            "created_at": {"type": "string", "format": "date-time"},
            "finished_at": _nullable({"type": "string", "format": "date-time"}),
            # OpenAPI 3.0 ignores a $ref's siblings: nullable goes beside an allOf.
            "remedy": {"allOf": [_ref("Remedy")], "nullable": True},
            "incident": {"allOf": [_ref("Incident")], "nullable": True},
            "links": {
                "type": "object",
                "required": ["self", "run", "incident", "remedy"],
                "properties": {
                    "self": _URL,
                    "run": _nullable(_URL),
                    "incident": _nullable(_URL),
                    "remedy": _nullable(_URL),
                },
            },
        },
    },
}

_SCHEMAS["Remedy"] = {
    "type": "object",
    "description": (
        "The one remedy of the verified deployment (null when the guard took none): the "
        "rollback's strategy, how it stands, and where it went."
    ),
    "required": [
        "strategy",
        "state",
        "dry_run",
        "target_ref",
        "target_sha",
        "rollback_ref",
        "url",
    ],
    "properties": {
        "strategy": {
            "type": "string",
            "description": "redeploy, revert, revert_pr, workflow, ecs or lambda.",
        },
        "state": {
            "type": "string",
            "enum": ["claimed", "running", "done", "failed", "skipped"],
            "description": "skipped: only described (shadow mode or GUARD_DRY_RUN).",
        },
        "dry_run": {"type": "boolean"},
        "target_ref": _nullable(_TEXT),
        "target_sha": _nullable(_TEXT),
        "rollback_ref": _nullable(
            {
                "type": "string",
                "description": (
                    "The ref (else the SHA) the environment was rolled back to; null until "
                    "the rollback is done. The Action's rollback-ref output."
                ),
            }
        ),
        "url": _nullable(
            {
                "type": "string",
                "format": "uri",
                "description": "Its pull request, revert commit, or the environment's deployments.",
            }
        ),
    },
}
_SCHEMAS["Incident"] = {
    "type": "object",
    "description": "The incident filed for the verified deployment (null when none was).",
    "required": ["code", "state", "severity", "issue_number", "url"],
    "properties": {
        "code": {"type": "string", "description": "INC-YYYYMMDD-NNN"},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "severity": {"type": "string", "enum": ["P0", "P1", "P2", "P3"]},
        "issue_number": _nullable({"type": "integer"}),
        "url": _nullable(
            {
                "type": "string",
                "format": "uri",
                "description": "The incident issue; null between its claim and its filing.",
            }
        ),
    },
}

_SCHEMAS["PageError"] = {
    "type": "object",
    "description": "How the run pages' JSON answers a mistake: a status word and a sentence.",
    "required": ["status", "reason"],
    "properties": {"status": _TEXT, "reason": _TEXT},
}
_SCHEMAS["RunSummary"] = {
    "type": "object",
    "required": ["id", "repository", "environment", "deployment_id", "sha", "state"],
    "properties": {
        "id": {"type": "integer"},
        "repository": _TEXT,
        "environment": _TEXT,
        "deployment_id": {"type": "integer"},
        "sha": _TEXT,
        "ref": _TEXT,
        "state": _ref("State"),
        "verdict": _nullable({"type": "string", "enum": ["pass", "fail", "inconclusive"]}),
        "severity": _nullable({"type": "string", "enum": ["P0", "P1", "P2", "P3"]}),
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": _nullable({"type": "string", "format": "date-time"}),
    },
}

_RUN_PAGES: dict[str, Any] = {
    "/api/v1/runs": {
        "get": {
            "operationId": "listRuns",
            "summary": "Recent verifications, newest first (the status page as JSON)",
            "parameters": [
                {"name": "repository", "in": "query", "schema": _TEXT},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
            ],
            "responses": {
                "200": {
                    "description": "The runs.",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["runs"],
                                "properties": {
                                    "runs": {"type": "array", "items": _ref("RunSummary")}
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "A limit that is not 1 to 200.",
                    "content": {JSON: {"schema": _ref("PageError")}},
                },
            },
        }
    },
    "/api/v1/runs/{run_id}": {
        "get": {
            "operationId": "getRun",
            "summary": "One run's story: verdict, reasons, checks, timeline, remedy, incident",
            "parameters": [
                {
                    "name": "run_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            ],
            "responses": {
                "200": {
                    "description": "The run.",
                    "content": {
                        JSON: {"schema": {"allOf": [_ref("RunSummary")], "type": "object"}}
                    },
                },
                "404": {
                    "description": "No such run.",
                    "content": {JSON: {"schema": _ref("PageError")}},
                },
            },
        }
    },
}

_AUTH_ERRORS = {
    "401": _error(
        "No token, or a token that proves nothing: expired, for another audience or issuer, "
        "signed by an unknown key, with an algorithm other than RS256, or malformed."
    ),
    "403": _error(
        "A good token from an owner the guard does not serve, for a repository whose id does "
        "not match, or where the guard's App is not installed."
    ),
    "503": _error("The issuer's keys, GitHub, the database or the queue did not answer."),
}


def openapi_document() -> dict[str, Any]:
    """The document, new each call (callers may change their copy)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "deploy-guard",
            "version": guard.__version__,
            "description": (
                "Pipelines start verifications of their deployments and read the verdict, "
                "authenticated by the job's GitHub Actions OIDC token (no shared secret)."
            ),
        },
        "paths": {
            "/api/v1/verifications": {
                "post": {
                    "operationId": "startVerification",
                    "summary": "Verify the calling workflow's deployment",
                    "security": [{"actionsOidc": []}],
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref("VerificationRequest")}},
                    },
                    "responses": {
                        "202": {
                            "description": "Recorded and queued.",
                            "content": {JSON: {"schema": _ref("VerificationStarted")}},
                        },
                        "400": _error("The body is not a valid request."),
                        **_AUTH_ERRORS,
                        "404": _error("The token's repository has no such deployment."),
                        "415": _error("The body is not JSON."),
                        "409": _error(
                            "The deployment is to another environment, or GitHub refused to "
                            "deploy the commit (it does not know it, say)."
                        ),
                        "502": _error("GitHub answered in a way the guard cannot use."),
                    },
                }
            },
            "/api/v1/verifications/{verification_id}": {
                "get": {
                    "operationId": "getVerification",
                    "summary": "A verification's state, verdict, checks and links",
                    "security": [{"actionsOidc": []}],
                    "parameters": [
                        {
                            "name": "verification_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The verification.",
                            "content": {JSON: {"schema": _ref("Verification")}},
                        },
                        **_AUTH_ERRORS,
                        "404": _error(
                            "No such verification of the token's repository (another "
                            "repository's verification is answered the same way)."
                        ),
                    },
                }
            },
            **_RUN_PAGES,
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI description.",
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "actionsOidc": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "The job's GitHub Actions OIDC token for the audience in "
                        "GUARD_OIDC_AUDIENCE (`permissions: id-token: write`)."
                    ),
                }
            },
        },
    }
