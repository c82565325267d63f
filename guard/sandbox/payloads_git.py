"""JSON for git things: commits (Git Data and REST shapes), refs, trees, contents, branches."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from guard.sandbox.gitobjects import CommitInfo, FileChange, GitIdentity, TreeEntry
from guard.sandbox.models import ProtectionRecord, UserRecord
from guard.sandbox.payloads_core import Links, node_id, user_json

UserForEmail = Callable[[str], UserRecord | None]

UNSIGNED = {
    "verified": False,
    "reason": "unsigned",
    "signature": None,
    "payload": None,
    "verified_at": None,
}


def _sha_node_id(kind: str, sha: str) -> str:
    return node_id(kind, int(sha[:12], 16))


def _person(identity: GitIdentity) -> dict[str, str]:
    return {"name": identity.name, "email": identity.email, "date": identity.iso_date()}


def git_commit_json(links: Links, full_name: str, info: CommitInfo) -> dict[str, Any]:
    """A `git-commit` (GET/POST /git/commits)."""
    api = links.repo(full_name)
    return {
        "sha": info.sha,
        "node_id": _sha_node_id("Commit", info.sha),
        "url": f"{api}/git/commits/{info.sha}",
        "html_url": links.html(f"{full_name}/commit/{info.sha}"),
        "author": _person(info.author),
        "committer": _person(info.committer),
        "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
        "message": info.message,
        "parents": [
            {
                "sha": parent,
                "url": f"{api}/git/commits/{parent}",
                "html_url": links.html(f"{full_name}/commit/{parent}"),
            }
            for parent in info.parents
        ],
        "verification": dict(UNSIGNED),
    }


def commit_json(
    links: Links,
    full_name: str,
    info: CommitInfo,
    user_for_email: UserForEmail,
    files: list[FileChange] | None = None,
) -> dict[str, Any]:
    """A REST `commit` (commits/{ref}, compare, merges), authors linked to accounts by e-mail."""
    api = links.repo(full_name)
    author = user_for_email(info.author.email)
    committer = user_for_email(info.committer.email)
    body: dict[str, Any] = {
        "sha": info.sha,
        "node_id": _sha_node_id("Commit", info.sha),
        "url": f"{api}/commits/{info.sha}",
        "html_url": links.html(f"{full_name}/commit/{info.sha}"),
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "author": _person(info.author),
            "committer": _person(info.committer),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "comment_count": 0,
            "verification": dict(UNSIGNED),
        },
        "author": user_json(links, author) if author else None,
        "committer": user_json(links, committer) if committer else None,
        "parents": [
            {
                "sha": parent,
                "url": f"{api}/commits/{parent}",
                "html_url": links.html(f"{full_name}/commit/{parent}"),
            }
            for parent in info.parents
        ],
    }
    if files is not None:
        additions = sum(change.additions for change in files)
        deletions = sum(change.deletions for change in files)
        body["stats"] = {
            "additions": additions,
            "deletions": deletions,
            "total": additions + deletions,
        }
        body["files"] = [diff_entry_json(links, full_name, info.sha, change) for change in files]
    return body


def diff_entry_json(links: Links, full_name: str, at: str, change: FileChange) -> dict[str, Any]:
    path = quote(change.path)
    entry: dict[str, Any] = {
        "sha": change.sha,
        "filename": change.path,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": links.html(f"{full_name}/blob/{at}/{path}"),
        "raw_url": links.html(f"{full_name}/raw/{at}/{path}"),
        "contents_url": f"{links.repo(full_name)}/contents/{path}?ref={at}",
    }
    if change.patch is not None:
        entry["patch"] = change.patch
    return entry


def git_ref_json(links: Links, full_name: str, ref: str, sha: str, kind: str) -> dict[str, Any]:
    """A `git-ref`; its `url` is where PyGithub's GitRef.edit sends the PATCH."""
    api = links.repo(full_name)
    return {
        "ref": ref,
        "node_id": node_id("Ref", zlib.crc32(f"{full_name}:{ref}".encode())),
        "url": f"{api}/git/{quote(ref)}",
        "object": {"sha": sha, "type": kind, "url": f"{api}/git/{kind}s/{sha}"},
    }


def git_tree_json(
    links: Links, full_name: str, sha: str, entries: list[TreeEntry], *, truncated: bool = False
) -> dict[str, Any]:
    api = links.repo(full_name)
    items = []
    for entry in entries:
        item: dict[str, Any] = {
            "path": entry.path,
            "mode": entry.mode,
            "type": entry.type,
            "sha": entry.sha,
        }
        if entry.type == "blob":
            item["size"] = entry.size or 0
        if entry.type != "commit":
            item["url"] = f"{api}/git/{entry.type}s/{entry.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": truncated}


def _content_kind(entry: TreeEntry) -> str:
    if entry.type == "tree":
        return "dir"
    if entry.type == "commit":
        return "submodule"
    return "symlink" if entry.mode == "120000" else "file"


def content_json(
    links: Links, full_name: str, ref: str, entry: TreeEntry, data: bytes | None
) -> dict[str, Any]:
    """A contents item; with `data`, a `content-file` carrying base64 text like GitHub's."""
    api = links.repo(full_name)
    kind = _content_kind(entry)
    path = quote(entry.path)
    url = f"{api}/contents/{path}?ref={quote(ref, safe='')}"
    git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
    html_url = links.html(f"{full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}")
    download = links.html(f"{full_name}/raw/{ref}/{path}") if kind == "file" else None
    body: dict[str, Any] = {
        "type": kind,
        "size": entry.size or 0,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": download,
        "_links": {"self": url, "git": git_url, "html": html_url},
    }
    if data is not None and kind == "file":
        encoded = base64.b64encode(data).decode()
        # GitHub wraps the base64 text at 60 characters, each line ending in a newline.
        body["content"] = "".join(f"{encoded[i : i + 60]}\n" for i in range(0, len(encoded), 60))
        body["encoding"] = "base64"
    elif data is not None and kind == "symlink":
        body["target"] = data.decode(errors="replace")
    return body


def protection_json(links: Links, full_name: str, protection: ProtectionRecord) -> dict[str, Any]:
    """A `branch-protection` as GET .../branches/{branch}/protection shows it."""
    url = f"{links.repo(full_name)}/branches/{quote(protection.branch)}/protection"
    body: dict[str, Any] = {
        "url": url,
        "enabled": True,
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": protection.enforce_admins},
        "allow_force_pushes": {"enabled": protection.allow_force_pushes},
        "allow_deletions": {"enabled": protection.allow_deletions},
        "required_linear_history": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
    }
    if protection.required_status_checks:
        body["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": protection.strict,
            "contexts": list(protection.required_status_checks),
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in protection.required_status_checks],
            "enforcement_level": "everyone" if protection.enforce_admins else "non_admins",
        }
    if protection.require_pull_request:
        body["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "required_approving_review_count": protection.required_approving_review_count,
            "require_last_push_approval": False,
        }
    return body


def branch_json(
    links: Links,
    full_name: str,
    name: str,
    commit: dict[str, Any],
    protection: ProtectionRecord | None,
) -> dict[str, Any]:
    """A `branch-with-protection`."""
    api = links.repo(full_name)
    checks = protection.required_status_checks if protection else []
    return {
        "name": name,
        "commit": commit,
        "_links": {
            "self": f"{api}/branches/{quote(name)}",
            "html": links.html(f"{full_name}/tree/{quote(name)}"),
        },
        "protected": protection is not None,
        "protection": {
            "enabled": protection is not None,
            "required_status_checks": {
                "enforcement_level": "everyone" if checks else "off",
                "contexts": list(checks),
                "checks": [{"context": context, "app_id": None} for context in checks],
            },
        },
        "protection_url": f"{api}/branches/{quote(name)}/protection",
    }


def tag_json(links: Links, full_name: str, name: str, sha: str) -> dict[str, Any]:
    api = links.repo(full_name)
    return {
        "name": name,
        "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
        "zipball_url": f"{api}/zipball/refs/tags/{quote(name)}",
        "tarball_url": f"{api}/tarball/refs/tags/{quote(name)}",
        "node_id": _sha_node_id("Tag", sha),
    }
