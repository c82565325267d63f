"""Merge operations of GitHub's REST description into the sandbox's vendored subset, reproducibly.

    npm pack @octokit/openapi@23.0.2            # in a temporary directory; never vendored
    python scripts/merge_openapi_operations.py /tmp/x/octokit-openapi-23.0.2.tgz

The package's `generated/api.github.com.json` is read straight from the tarball (or give that
JSON file itself). Each operation in OPERATIONS is copied as GitHub wrote it, with every
component it references, transitively; what the subset already holds must be identical, or the
script stops. The output is written the way the subset has always been written (one-space
indent, sorted keys, ASCII), so running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parent.parent / "guard/sandbox/openapi/rest-api-subset.json"
MEMBER = "package/generated/api.github.com.json"
# The package version the subset was cut from; mixing versions would mix descriptions.
VERSION = "23.0.2"
# (method, path) of the operations added after the first cut; see the openapi README.
OPERATIONS = (
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("patch", "/repos/{owner}/{repo}/labels/{name}"),
    ("get", "/app/hook/deliveries"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
)


def read_description(package: Path) -> dict[str, Any]:
    """The full description, from the npm tarball or from the extracted JSON file."""
    if package.suffix == ".json":
        loaded = json.loads(package.read_text())
    else:
        with tarfile.open(package) as archive:
            member = archive.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"{package} has no {MEMBER}")
            loaded = json.load(member)
    if not isinstance(loaded, dict):
        raise SystemExit(f"{package} does not hold an OpenAPI description")
    return loaded


def references(node: Any) -> Iterator[str]:
    """Every `$ref` inside a JSON value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def component(description: dict[str, Any], reference: str) -> tuple[str, str, Any]:
    """(section, name, value) of a `#/components/<section>/<name>` reference."""
    parts = reference.removeprefix("#/").split("/")
    if len(parts) != 3 or parts[0] != "components":
        raise SystemExit(f"unexpected reference {reference}")
    return parts[1], parts[2], description["components"][parts[1]][parts[2]]


def closure(description: dict[str, Any], roots: list[Any]) -> dict[tuple[str, str], Any]:
    """The components the roots reference, directly or through other components."""
    found: dict[tuple[str, str], Any] = {}
    pending = [ref for root in roots for ref in references(root)]
    while pending:
        section, name, value = component(description, pending.pop())
        if (section, name) in found:
            continue
        found[section, name] = value
        pending.extend(references(value))
    return found


def merge(subset: dict[str, Any], description: dict[str, Any]) -> list[str]:
    """Add OPERATIONS and their components to `subset`; returns what was added."""
    added: list[str] = []
    operations = []
    for method, path in OPERATIONS:
        operation = description["paths"][path][method]
        existing = subset["paths"].get(path, {}).get(method)
        if existing is not None and existing != operation:
            raise SystemExit(f"{method.upper()} {path} differs from the package's; refusing")
        if existing is None:
            subset["paths"].setdefault(path, {})[method] = operation
            added.append(f"{method.upper()} {path} ({operation['operationId']})")
        operations.append(operation)
    for (section, name), value in sorted(closure(description, operations).items()):
        existing = subset["components"].setdefault(section, {}).get(name)
        if existing is not None and existing != value:
            raise SystemExit(f"components/{section}/{name} differs from the package's; refusing")
        if existing is None:
            subset["components"][section][name] = value
            added.append(f"components/{section}/{name}")
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("package", type=Path, help="the @octokit/openapi .tgz, or its JSON")
    parser.add_argument("--subset", type=Path, default=SUBSET, help="the subset to update")
    arguments = parser.parse_args(argv)
    description = read_description(arguments.package)
    version = description.get("info", {}).get("version")
    if version != VERSION:
        raise SystemExit(f"the subset comes from @octokit/openapi {VERSION}, not {version}")
    subset = json.loads(arguments.subset.read_text())
    added = merge(subset, description)
    arguments.subset.write_text(json.dumps(subset, indent=1, sort_keys=True))
    for line in added:
        print(f"added {line}")
    print(f"{len(added)} additions; {arguments.subset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
