"""Checks the sandbox's answers against GitHub's own OpenAPI description, so it cannot drift.

Built on openapi-core: it resolves the description's `$ref`s, applies OpenAPI 3.0 rules (`nullable`,
`oneOf` with discriminators, formats) and validates declared headers, which hand-rolled jsonschema
calls on extracted schemas would each have to redo. The description is loaded once per process.

GitHub's description says `nullable: true` beside `oneOf` and `enum`, which OpenAPI 3.0.3 (and so
openapi-core) ignores there, and it puts a discriminator on a `oneOf` holding an array; real GitHub
answers null and directory arrays in those places. `_as_github_means_it` rewrites just those
spots on load, so such answers pass and everything else is checked as written.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from guard.sandbox.violations import CONTROL_PREFIX

SPEC_PATH = Path(__file__).parent / "openapi" / "rest-api-subset.json"
# The description's only server; requests are matched as if they had been sent there.
SPEC_SERVER = "https://api.github.com"
# Path parameters that GitHub lets carry slashes (`heads/feature/x`, `docs/a.md`, `main...topic`).
_SLASHED_PARAMETERS = {"ref", "path", "branch", "basehead"}
_METHODS = {"get", "post", "put", "patch", "delete"}
TEXT_MEDIA_TYPES = (
    "application/vnd.github.sha",
    "application/vnd.github.diff",
    "application/vnd.github.patch",
)


@dataclass(frozen=True)
class _Operation:
    template: str
    method: str
    statuses: frozenset[str]


class _SpecRequest:
    """A request as openapi-core sees it, with the path template resolved by us (see above)."""

    def __init__(
        self,
        method: str,
        template: str,
        path_values: dict[str, str],
        query: list[tuple[str, str]],
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.method = method.lower()
        self.host_url = SPEC_SERVER
        self.path = template
        self.path_pattern = template
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(
            path=path_values,
            query=ImmutableMultiDict(query),
            header=Headers(),
            cookie=ImmutableMultiDict(),
        )


class _SpecResponse:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, content_type: str):
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.data = body
        self.content_type = content_type


@functools.cache
def _load(spec_path: Path) -> tuple[OpenAPI, dict[str, Any]]:
    raw = json.loads(spec_path.read_text())
    _as_github_means_it(raw, raw)
    # GitHub's plain-text answers (a commit's sha, diffs) are strings in the description.
    text: dict[str, Callable[[bytes], Any]] = dict.fromkeys(TEXT_MEDIA_TYPES, _decode)
    config = Config(extra_media_type_deserializers=text)
    return OpenAPI.from_dict(raw, config=config), raw


def _decode(raw: bytes) -> str:
    return raw.decode()


# Matches null and nothing else, under OpenAPI 3.0.3 rules.
_ONLY_NULL = {"type": "string", "nullable": True, "enum": [None]}


def _as_github_means_it(node: Any, root: dict[str, Any]) -> None:
    """Rewrite, in place, the description's nullable and discriminator spots (module docstring)."""
    if isinstance(node, list):
        for item in node:
            _as_github_means_it(item, root)
        return
    if not isinstance(node, dict):
        return
    if node.get("nullable") is True:
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        for combinator in ("oneOf", "anyOf"):
            if combinator in node and "type" not in node:
                node[combinator] = [*node[combinator], dict(_ONLY_NULL)]
    if "discriminator" in node and "oneOf" in node:
        targets = [_resolve(root, choice) for choice in node["oneOf"]]
        if any(target.get("type") == "array" for target in targets):
            del node["discriminator"]
    for value in node.values():
        _as_github_means_it(value, root)


def _resolve(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    target: Any = root
    for part in reference[2:].split("/"):
        target = target[part]
    return target if isinstance(target, dict) else {}


class ConformanceChecker:
    """Validates one answer at a time; thread-safe, cheap after the first call in a process."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        self._openapi, raw = _load(spec_path)
        self._operations: list[tuple[re.Pattern[str], _Operation]] = []
        for template, item in raw["paths"].items():
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                statuses = frozenset(operation.get("responses", {}))
                self._operations.append(
                    (_compile(template), _Operation(template, method, statuses))
                )
        # Most literal text first: `/branches/{branch}/protection` wins over `/branches/{branch}`.
        self._operations.sort(key=lambda pair: -len(re.sub(r"\{[^}]+\}", "", pair[1].template)))
        self._lock = threading.Lock()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """The description's path template and parameters for a request, or None if undocumented."""
        for pattern, operation in self._operations:
            if operation.method != method.lower():
                continue
            match = pattern.fullmatch(path)
            if match:
                return operation.template, dict(match.groupdict())
        return None

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        *,
        headers: Mapping[str, str],
        body: bytes,
        content_type: str,
    ) -> list[str]:
        """Every way this answer breaks the description (empty when it conforms)."""
        if path.startswith(CONTROL_PREFIX):
            return []
        found = self.operation(method, path)
        if found is None:
            # Not GitHub's path, so not served: a 404 is right (the request is what is off).
            return [] if status == 404 else [f"{method} {path} is not in GitHub's description"]
        template, values = found
        declared = self._declared_statuses(method, template)
        if str(status) not in declared and f"{str(status)[0]}XX" not in declared:
            if status >= 400:
                # Auth, rate-limit and server errors can come from any endpoint; the
                # description lists them only where they are typical. Check their shape.
                return _error_shape_problems(body)
            return [f"status {status} is not declared for {method} {template}"]
        request = _SpecRequest(method, template, values, [])
        response = _SpecResponse(status, headers, body, content_type.split(";", 1)[0].strip())
        with self._lock:
            errors = list(self._openapi.iter_response_errors(request, response))
        return [_describe(error) for error in errors]

    def check_request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]],
        body: bytes,
        content_type: str,
    ) -> list[str]:
        """Every way a client's request breaks the description: where GitHub would answer 4xx."""
        if path.startswith(CONTROL_PREFIX):
            return []
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path} is not in GitHub's description"]
        template, values = found
        request = _SpecRequest(
            method,
            template,
            values,
            query,
            body=body or None,
            content_type=content_type.split(";", 1)[0].strip() or "application/json",
        )
        with self._lock:
            errors = list(self._openapi.iter_request_errors(request))
        return [_describe(error) for error in errors]

    def _declared_statuses(self, method: str, template: str) -> frozenset[str]:
        for _, operation in self._operations:
            if operation.template == template and operation.method == method.lower():
                return operation.statuses
        return frozenset()


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = ""
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name in _SLASHED_PARAMETERS:
                # An empty `path` lists the repository's root directory.
                regex += f"(?P<{name}>.*)" if name == "path" else f"(?P<{name}>.+)"
            else:
                regex += f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _error_shape_problems(body: bytes) -> list[str]:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return ["error answer is not JSON"]
    if not isinstance(parsed, dict) or not isinstance(parsed.get("message"), str):
        return ["error answer lacks GitHub's `message`"]
    return []


def _describe(error: Exception) -> str:
    """A readable line per schema error: where in the body, and what is wrong."""
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        lines = []
        for schema_error in schema_errors:
            where = "/".join(str(part) for part in schema_error.absolute_path) or "(body)"
            lines.append(f"{where}: {schema_error.message}")
        return "; ".join(lines)
    return f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")
