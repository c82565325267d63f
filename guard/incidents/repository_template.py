"""A repository's Markdown issue template: front matter read by us, placeholders rendered sandboxed.

GitHub applies a template's front matter only in its web UI, so an API client reads `name`,
`about`, `title`, `labels` and `assignees` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from jinja2 import TemplateError, meta

from guard.github.errors import GitHubError
from guard.github.port import GitHubPort
from guard.incidents.placeholders import PLACEHOLDERS
from guard.incidents.templating import RepositoryEnvironment

TEMPLATE_DIRECTORY = ".github/ISSUE_TEMPLATE"
FRONT_MATTER_FENCE = "---"
FRONT_MATTER_KEYS = ("name", "about", "title", "labels", "assignees")
# Rendering stops once a template has produced this much: the body limit, twice over.
OUTPUT_LIMIT = 2 * 65_536

MISSING = "The incident template `{path}` does not exist at `{ref}`, so the built-in one was used."
UNREADABLE = (
    "The incident template `{path}` could not be read ({error}), so the built-in one was used."
)
NOT_UTF8 = "it is not UTF-8 text"
ISSUE_FORM = "it is an issue form (YAML); only Markdown templates can be filled in"
UNCLOSED = "its front matter opens with --- but never closes"
BAD_FRONT_MATTER = "its front matter is not a list of `key: value` lines"
BAD_LIST = "`{key}` must be a comma-separated string or a list of strings"
UNKNOWN_PLACEHOLDERS = "it uses {names}, which {verb} not known (see the documented placeholders)"
RENDER_FAILED = "it could not be rendered: {error}"
TOO_LONG = "it renders to more than {limit:,} characters"
FALLBACK = (
    "The incident template `{path}` was not used: {problem}. The built-in template was used "
    "instead."
)


class TemplateProblem(Exception):  # noqa: N818 - a problem to note, not an error to raise
    """Why a repository template cannot be used; the issue says so and uses the built-in one."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


def unusable(path: str, problem: str) -> TemplateProblem:
    return TemplateProblem(FALLBACK.format(path=path, problem=problem))


@dataclass(frozen=True)
class RepositoryTemplate:
    """One issue template: its front matter and its Markdown body (both may hold placeholders)."""

    path: str
    body: str
    name: str | None = None
    about: str | None = None
    title: str | None = None
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()


def template_path(configured: str) -> str:
    """`deploy-incident.md` means `.github/ISSUE_TEMPLATE/deploy-incident.md`; paths stay."""
    name = configured.strip().lstrip("/")
    if "/" in name:
        return name
    return f"{TEMPLATE_DIRECTORY}/{name if '.' in name else name + '.md'}"


def load_template(
    port: GitHubPort, repository: str, configured: str, ref: str
) -> RepositoryTemplate:
    """The policy's template at `ref`; a TemplateProblem says why it cannot be used."""
    path = template_path(configured)
    if path.endswith((".yml", ".yaml")):
        raise unusable(path, ISSUE_FORM)
    try:
        content = port.get_file(repository, path, ref)
    except GitHubError as error:
        note = UNREADABLE.format(path=path, error=error.message)
        raise TemplateProblem(note) from error
    if content is None:
        raise TemplateProblem(MISSING.format(path=path, ref=ref[:12]))
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise unusable(path, NOT_UTF8) from None
    return parse_template(text, path)


def parse_template(text: str, path: str) -> RepositoryTemplate:
    """Split front matter from body and read the five keys GitHub documents."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return RepositoryTemplate(path=path, body=text)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == FRONT_MATTER_FENCE)
    except StopIteration:
        raise unusable(path, UNCLOSED) from None
    data = _front_matter("\n".join(lines[1:end]), path)
    body = "\n".join(lines[end + 1 :]).lstrip("\n")
    return RepositoryTemplate(
        path=path,
        body=body,
        name=_text(data.get("name")),
        about=_text(data.get("about")),
        title=_text(data.get("title")),
        labels=_list(data.get("labels"), "labels", path),
        assignees=_list(data.get("assignees"), "assignees", path),
    )


def _front_matter(source: str, path: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(source) if source.strip() else {}
    except yaml.YAMLError:
        data = None
    if isinstance(data, Mapping):
        return data
    # An unquoted `title: {{ severity }} ...` is not YAML (a flow mapping), but the intent
    # is plain: read such front matter line by line instead of refusing the template.
    found: dict[str, str] = {}
    for line in source.split("\n"):
        key, separator, value = line.partition(":")
        if separator and key.strip() in FRONT_MATTER_KEYS:
            found[key.strip()] = _unquote(value.strip())
        elif line.strip() and not line.lstrip().startswith("#"):
            raise unusable(path, BAD_FRONT_MATTER)
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _list(value: object, key: str, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        raise unusable(path, BAD_LIST.format(key=key))
    return tuple(item.strip() for item in items if item.strip())


def render_template(
    template: RepositoryTemplate, values: Mapping[str, Any]
) -> tuple[str | None, str]:
    """The template's title (None when it has none) and body, rendered in the sandbox."""
    environment = RepositoryEnvironment()
    sources = {"body": template.body, "title": template.title}
    unknown: set[str] = set()
    for source in sources.values():
        if source is not None:
            unknown |= _undeclared(environment, source, template.path)
    unknown -= set(PLACEHOLDERS) | set(environment.globals)
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in sorted(unknown))
        verb = "is" if len(unknown) == 1 else "are"
        raise unusable(template.path, UNKNOWN_PLACEHOLDERS.format(names=names, verb=verb))
    title = _render(environment, template.title, values, template.path)
    body = _render(environment, template.body, values, template.path)
    assert body is not None  # a template always has a body, possibly empty
    return title, body


def _undeclared(environment: RepositoryEnvironment, source: str, path: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(environment.parse(source)))
    except TemplateError as error:
        raise unusable(path, RENDER_FAILED.format(error=_describe(error))) from error


def _render(
    environment: RepositoryEnvironment,
    source: str | None,
    values: Mapping[str, Any],
    path: str,
) -> str | None:
    if source is None:
        return None
    pieces: list[str] = []
    size = 0
    try:
        for piece in environment.from_string(source).generate(values):
            pieces.append(piece)
            size += len(piece)
            if size > OUTPUT_LIMIT:
                raise unusable(path, TOO_LONG.format(limit=OUTPUT_LIMIT))
    except TemplateError as error:
        raise unusable(path, RENDER_FAILED.format(error=_describe(error))) from error
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        # A template can divide by zero or index past an end like any program.
        raise unusable(path, RENDER_FAILED.format(error=_describe(error))) from error
    return "".join(pieces)


def _describe(error: Exception) -> str:
    line = getattr(error, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(error).__name__}: {error}{where}"
