"""Loads a policy: YAML text to a validated Policy, or every problem in it with its line."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from guard.policy.errors import (
    KeyPath,
    PolicyError,
    PolicyIssue,
    PolicyReadError,
    UnknownEnvironmentError,
    format_key_path,
)
from guard.policy.messages import DID_YOU_MEAN, UNSUPPORTED_VERSION, closest, friendly_message
from guard.policy.models import Environment, Policy
from guard.policy.quoting import describe_value, quote_value
from guard.policy.secrets import placeholder_problems
from guard.policy.yaml_source import Location, SourceDocument, read_yaml

__all__ = [
    "DEFAULT_FILENAME",
    "PolicyError",
    "PolicyIssue",
    "PolicyReadError",
    "UnknownEnvironmentError",
    "environment_or_error",
    "load_policy",
    "load_policy_file",
]

DEFAULT_FILENAME = "deploy-guard.yml"
EMPTY_POLICY = 'the policy is empty: it needs at least "version: 1" and "environments:"'
NOT_A_MAPPING = "the policy must be a mapping of keys (version, environments, ...), got {got}"
UNKNOWN_ENVIRONMENT = "environment {name} is not in the policy (known: {known})"
NO_SUCH_FILE = "cannot read the policy: there is no such file"
IS_A_DIRECTORY = "cannot read the policy: it is a directory, not a file"
NO_PERMISSION = "cannot read the policy: permission denied"
CANNOT_READ = "cannot read the policy: {reason}"
NOT_UTF8 = "cannot read the policy: it is not UTF-8 text (byte {byte} at offset {offset})"
# Valid policies kept by their text per process: a guard reads the same few policies for
# every deployment, and parsing with line numbers costs more than the rest of a start step.
PARSED_CACHE_SIZE = 64


def _line_for(locations: dict[KeyPath, Location], loc: KeyPath, *, at_key: bool) -> int:
    """The nearest written line for `loc`: the value's, the key's, or the parent's key line."""
    path = loc
    while path not in locations:
        path = path[:-1]
    location = locations[path]
    if len(path) < len(loc) or at_key or location.is_collection:
        # A missing key has no line of its own; its mapping's key line is where to add it.
        return location.key_line
    return location.value_line


def _validation_issue(document: SourceDocument, error: ErrorDetails, filename: str) -> PolicyIssue:
    loc: KeyPath = tuple(error["loc"])
    # An unknown key is about the key itself, whatever is written under it.
    at_key = error["type"] == "extra_forbidden"
    line = _line_for(document.locations, loc, at_key=at_key)
    return PolicyIssue(filename, line, format_key_path(loc), friendly_message(error))


def _placeholder_issues(document: SourceDocument, filename: str) -> list[PolicyIssue]:
    """Every `${NAME}` the guard may not fill, wherever in the document it is written."""
    issues: list[PolicyIssue] = []

    def check(text: str, path: KeyPath, line: int) -> None:
        for problem in placeholder_problems(text):
            issues.append(PolicyIssue(filename, line, format_key_path(path), problem))

    def walk(value: object, path: KeyPath) -> None:
        if isinstance(value, str):
            check(value, path, _line_for(document.locations, path, at_key=False))
        elif isinstance(value, dict):
            for key, item in value.items():
                check(key, (*path, key), _line_for(document.locations, (*path, key), at_key=True))
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(document.value, ())
    return issues


def _version_issue(document: SourceDocument, filename: str) -> PolicyIssue | None:
    """A version other than 1: the rest of the file may follow another format, so stop there."""
    assert isinstance(document.value, dict)
    if "version" not in document.value:
        return None
    version = document.value["version"]
    if type(version) is int and version == 1:
        return None
    line = _line_for(document.locations, ("version",), at_key=False)
    return PolicyIssue(
        filename, line, "version", UNSUPPORTED_VERSION.format(value=quote_value(version))
    )


class _ParsedPolicies:
    """Valid policies by (file name, SHA-256 of the text), least recently used dropped.

    A loaded policy depends on nothing but its text and the file name its errors would
    carry, and is immutable (frozen models), so one object serves every caller. Only valid
    policies are kept: an invalid one is rare, and its error is raised afresh each time.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, bytes], Policy] = OrderedDict()

    @staticmethod
    def key(text: str, filename: str) -> tuple[str, bytes]:
        # The digest, not the text: a policy may be large, and the key is all that is kept.
        return filename, hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: tuple[str, bytes]) -> Policy | None:
        with self._lock:
            policy = self._items.get(key)
            if policy is not None:
                self._items.move_to_end(key)
            return policy

    def put(self, key: tuple[str, bytes], policy: Policy) -> None:
        with self._lock:
            self._items[key] = policy
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_PARSED = _ParsedPolicies(PARSED_CACHE_SIZE)


def load_policy(text: str, filename: str = DEFAULT_FILENAME) -> Policy:
    """Validate policy YAML; raise PolicyError with every problem, by line, when it is not valid.

    `${GUARD_SECRET_*}` placeholders are checked but kept as written: the probes fill them at
    run time from the guard's own environment, so a loaded policy never holds a secret. The
    same text loaded again in this process is the same Policy, without parsing it again.
    """
    key = _ParsedPolicies.key(text, filename)
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    policy = _parse_policy(text, filename)
    _PARSED.put(key, policy)
    return policy


def _parse_policy(text: str, filename: str) -> Policy:
    document = read_yaml(text, filename)
    if document.value is None:
        raise PolicyError([PolicyIssue(filename, 1, "", EMPTY_POLICY)])
    if not isinstance(document.value, dict):
        line = document.locations[()].value_line
        message = NOT_A_MAPPING.format(got=describe_value(document.value))
        raise PolicyError([PolicyIssue(filename, line, "", message)])
    issues = list(document.issues)
    version_issue = _version_issue(document, filename)
    if version_issue is not None:
        raise PolicyError([*issues, version_issue])
    issues.extend(_placeholder_issues(document, filename))
    try:
        policy = Policy.model_validate(document.value, by_alias=True, by_name=False)
    except ValidationError as error:
        details = error.errors(include_url=False)
        issues.extend(_validation_issue(document, detail, filename) for detail in details)
    if issues:
        raise PolicyError(issues)
    return policy


def _read_problem(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return NO_SUCH_FILE
    if isinstance(error, IsADirectoryError):
        return IS_A_DIRECTORY
    if isinstance(error, PermissionError):
        return NO_PERMISSION
    if isinstance(error, UnicodeDecodeError):
        return NOT_UTF8.format(byte=f"0x{error.object[error.start]:02x}", offset=error.start)
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return CANNOT_READ.format(reason=reason.lower())


def load_policy_file(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file; errors are named after `path` as given."""
    filename = os.fspath(path)
    try:
        text = Path(filename).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        issue = PolicyIssue(filename, None, "", _read_problem(error))
        raise PolicyReadError([issue]) from None
    return load_policy(text, filename)


def environment_or_error(
    policy: Policy, name: str, filename: str | os.PathLike[str] = DEFAULT_FILENAME
) -> Environment:
    """The policy's section for environment `name`; an error naming the known ones otherwise."""
    if name in policy.environments:
        return policy.environments[name]
    known = sorted(policy.environments)
    message = UNKNOWN_ENVIRONMENT.format(name=quote_value(name), known=", ".join(known))
    suggestion = closest(name, known)
    if suggestion is not None:
        message += DID_YOU_MEAN.format(suggestion=suggestion)
    issue = PolicyIssue(os.fspath(filename), None, "", message)
    raise UnknownEnvironmentError(issue, name, known)
