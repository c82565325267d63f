"""Repository issue templates: front matter we parse ourselves, placeholders, and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import meta

from guard.incidents import placeholders
from guard.incidents.assignees import People
from guard.incidents.placeholders import PLACEHOLDERS, SECTIONS, placeholder_values
from guard.incidents.render import BUILT_IN, render_issue
from guard.incidents.repository_template import (
    RepositoryTemplate,
    TemplateProblem,
    parse_template,
    render_template,
    template_path,
)
from guard.incidents.templating import RepositoryEnvironment, builtin_environment
from guard.incidents.view import Budget, build_view
from tests.test_incidents_support import UPDATE_GOLDEN, watch_rollback_done

PATH = ".github/ISSUE_TEMPLATE/incident.md"


def values() -> dict[str, object]:
    view = build_view(watch_rollback_done(), Budget(), people=People(("dee",), ("@acme/web",)))
    return placeholder_values(view, builtin_environment())


def test_every_placeholder_is_documented_and_has_a_value() -> None:
    given = values()
    assert set(given) == set(PLACEHOLDERS)
    assert all(description.endswith(".") for description in PLACEHOLDERS.values())


def test_a_template_using_every_placeholder_renders_each_one() -> None:
    given = values()
    body = "\n".join(f"<<{name}>>{{{{ {name} }}}}<</{name}>>" for name in PLACEHOLDERS)
    template = RepositoryTemplate(path=PATH, body=body, title="{{ incident_code }}")
    title, rendered = render_template(template, given)
    assert title == "INC-20261122-001"
    for name in PLACEHOLDERS:
        start = rendered.index(f"<<{name}>>") + len(f"<<{name}>>")
        shown = rendered[start : rendered.index(f"<</{name}>>")]
        assert shown == str(given[name]), name
    for name in SECTIONS:
        # Every section has something to say here, except warnings and notes: there are none.
        assert given[name] or name in {"warnings_table", "notes"}, name


def test_the_built_in_templates_use_only_documented_placeholders() -> None:
    environment = builtin_environment()
    for name in ("incident.md.j2", "title.txt.j2"):
        assert environment.loader is not None
        source = environment.loader.get_source(environment, name)[0]
        used = meta.find_undeclared_variables(environment.parse(source))
        assert used <= set(PLACEHOLDERS), (name, used - set(PLACEHOLDERS))


FRONT_MATTER = """\
---
name: Incident
about: "Filed by the guard: one per failed deployment"
title: "[{{ severity }}] {{ environment }} is down"
labels: incident, sev, ,
assignees: [deployer, "@acme/sre", ops-lead]
---

Body for {{ environment }}.
"""


def test_front_matter_is_read_like_github_reads_it() -> None:
    template = parse_template(FRONT_MATTER, PATH)
    assert template.name == "Incident"
    assert template.about == "Filed by the guard: one per failed deployment"
    assert template.title == "[{{ severity }}] {{ environment }} is down"
    assert template.labels == ("incident", "sev")
    assert template.assignees == ("deployer", "@acme/sre", "ops-lead")
    assert template.body == "Body for {{ environment }}.\n"


def test_an_unquoted_placeholder_title_is_read_line_by_line() -> None:
    text = (
        "---\r\nname: x\r\ntitle: {{ severity }} in {{ environment }}\r\nlabels: a\r\n---\r\nB\r\n"
    )
    template = parse_template("\ufeff" + text, PATH)
    assert template.title == "{{ severity }} in {{ environment }}"
    assert template.labels == ("a",)
    assert template.body == "B\n"


def test_a_file_without_front_matter_is_all_body() -> None:
    template = parse_template("Just {{ summary }}\n", PATH)
    assert (template.title, template.labels, template.body) == (None, (), "Just {{ summary }}\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\ntitle: x\nBody\n", "never closes"),
        ("---\nlabels: {a: 1}\n---\n", "`labels` must be a comma-separated string or a list"),
        ("---\ntitle: {{ a }}\nthis is not a key\n---\n", "not a list of `key: value` lines"),
    ],
)
def test_broken_front_matter_is_a_problem_that_says_what(text: str, problem: str) -> None:
    with pytest.raises(TemplateProblem, match="was not used") as caught:
        parse_template(text, PATH)
    assert problem in caught.value.note
    assert PATH in caught.value.note


def test_template_names_resolve_under_the_issue_template_folder() -> None:
    assert template_path("deploy-incident") == ".github/ISSUE_TEMPLATE/deploy-incident.md"
    assert template_path("deploy-incident.md") == ".github/ISSUE_TEMPLATE/deploy-incident.md"
    assert template_path("/docs/incident.md") == "docs/incident.md"
    assert template_path("form.yml") == ".github/ISSUE_TEMPLATE/form.yml"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{{ nonsense }}", "it uses {{ nonsense }}, which is not known"),
        ("{{ severity.nope }}", "UndefinedError: 'str object' has no attribute 'nope'"),
        ("{% for x in range(5000) %}{% endfor %}", "range() is limited to 1,000 items"),
        ("{{ 'x' * 1000000 }}", "builds a value over 100,000"),
        ("{{ 2 ** 100000 }}", "builds a value over 100,000"),
        ("{{ ''.__class__.__mro__ }}", "SecurityError"),
        ("{% if %}", "TemplateSyntaxError"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% for i in range(1000) %}{{ summary }}{% endfor %}", "renders to more than"),
    ],
)
def test_a_template_that_cannot_render_falls_back_to_the_built_in_one(
    body: str, problem: str
) -> None:
    template = RepositoryTemplate(path=PATH, body=body, title="T")
    rendered = render_issue(watch_rollback_done(), template=template)
    assert rendered.template == BUILT_IN
    assert rendered.title.startswith("[P1] production: deployment of abc1234")
    note = next(n for n in rendered.notes if PATH in n)
    assert problem in note
    assert "The built-in template was used instead." in note
    assert note in rendered.body


def test_calls_are_bounded_in_the_sandbox() -> None:
    # A million iterations: the third level of range() calls crosses the bound early.
    loop = "{% for _ in range(100) %}"
    source = loop * 3 + "{% endfor %}" * 3
    template = RepositoryTemplate(path=PATH, body=source)
    rendered = render_issue(watch_rollback_done(), template=template)
    assert "more than 10,000 calls" in rendered.notes[0]


def test_a_repository_template_without_marker_or_notes_gets_both() -> None:
    template = RepositoryTemplate(path=PATH, body="Only {{ incident_code }}.", title="")
    context = watch_rollback_done()
    rendered = render_issue(context, template=template, notes=["A note for people."])
    lines = rendered.body.splitlines()
    assert lines[0] == context.marker
    assert lines[1:3] == ["> [!NOTE]", "> - A note for people."]
    assert lines[-1] == "Only INC-20261122-001."
    # An empty title falls back to the built-in one.
    assert rendered.title.startswith("[P1] production")
    assert rendered.template == PATH


def test_the_sandbox_keeps_its_own_range_for_small_loops() -> None:
    environment = RepositoryEnvironment()
    assert environment.from_string("{{ range(3) | list }}").render() == "[0, 1, 2]"
    assert environment.from_string("{{ 'ab' * 3 }}").render() == "ababab"


def test_the_placeholder_reference_page_matches_the_code() -> None:
    page = Path(placeholders.__file__).with_name("PLACEHOLDERS.md")
    text = placeholders.reference(builtin_environment())
    if UPDATE_GOLDEN:
        page.write_text(text, encoding="utf-8")
    assert page.exists(), "write it with  GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest " + __file__
    assert page.read_text(encoding="utf-8") == text
    for name in PLACEHOLDERS:
        assert f"`{{{{ {name} }}}}`" in text
