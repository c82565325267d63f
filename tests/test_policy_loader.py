"""Loading a policy: valid files become models; every problem names its file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guard.policy.errors import PolicyIssue, format_key_path
from guard.policy.loader import (
    EMPTY_POLICY,
    NOT_A_MAPPING,
    PolicyError,
    PolicyReadError,
    UnknownEnvironmentError,
    environment_or_error,
    load_policy,
    load_policy_file,
)
from guard.policy.models import Policy
from guard.policy.yaml_source import MAX_VALUES

POLICIES = Path(__file__).parent / "fixtures" / "policies"
EXAMPLE = POLICIES / "example.yml"
SHARED_EXAMPLE = Path("/work/shared/design/deploy-guard.example.yml")

MINIMAL = """\
version: 1
environments:
  production:
    smoke:
      - name: home page
        get: /
"""


def policy_text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def errors_of(text: str, filename: str = "deploy-guard.yml") -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy(policy_text(text), filename)
    return str(raised.value).splitlines()


def test_the_example_policy_is_valid_and_read_as_documented() -> None:
    policy = load_policy_file(EXAMPLE)
    assert list(policy.environments) == ["production", "staging"]
    production = policy.environments["production"]
    assert production.url == "https://shop.example.com"
    assert [check.name for check in production.smoke] == [
        "home page",
        "api health",
        "checkout API accepts a cart",
    ]
    assert production.smoke[0].expect.max_latency == 2.0
    assert production.smoke[2].expect.status.matches(201)
    assert production.watch is not None
    assert production.watch.interval == 15.0
    assert production.watch.duration == 600.0
    assert production.watch.fail_when.error_rate == pytest.approx(0.05)
    assert production.metrics[0].fail_when is not None
    assert production.metrics[0].fail_when.holds(0.06)
    assert production.on_failure.rollback.strategy == "redeploy"
    assert production.gate.freeze[0].from_ == "Fri 16:00"
    assert policy.environments["staging"].smoke[0].expect.status.matches(204)


def test_placeholders_are_kept_as_written_for_the_probes_to_fill() -> None:
    policy = load_policy_file(EXAMPLE)
    production = policy.environments["production"]
    assert production.smoke[1].headers["Authorization"] == "Bearer ${GUARD_SECRET_SHOP_TOKEN}"
    assert production.on_failure.notify.slack_webhook == "${GUARD_SECRET_SLACK_WEBHOOK}"


def test_the_fixture_is_the_design_example() -> None:
    if not SHARED_EXAMPLE.exists():
        pytest.skip(reason="the design documents are not on this machine")
    assert EXAMPLE.read_text(encoding="utf-8") == SHARED_EXAMPLE.read_text(encoding="utf-8")


def test_the_documented_error_line() -> None:
    text = MINIMAL + "    watch:\n      interval: fast\n"
    assert errors_of(text) == [
        'deploy-guard.yml:8: environments.production.watch.interval: "fast" is not a duration '
        "(examples: 15s, 2m)"
    ]


def test_an_error_names_the_line_of_a_value_written_below_its_key() -> None:
    text = MINIMAL + "    watch:\n      interval:\n        fast\n"
    assert errors_of(text)[0].startswith(
        "deploy-guard.yml:9: environments.production.watch.interval"
    )


def test_a_missing_key_points_at_its_mapping() -> None:
    errors = errors_of(
        """
        version: 1
        environments:
          production:
            metrics:
              - name: errors
                prometheus:
                  url: http://prometheus:9090
                fail_when: "> 0.05"
        """
    )
    assert errors == [
        "deploy-guard.yml:6: environments.production.metrics[0].prometheus.query: is required"
    ]


def test_a_model_rule_points_at_the_list_item() -> None:
    errors = errors_of(MINIMAL + "      - name: no target\n")
    assert errors == [
        "deploy-guard.yml:7: environments.production.smoke[1]: give exactly one of get or request"
    ]


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    errors = errors_of(MINIMAL + "        expct: {status: 200}\n")
    assert errors == [
        "deploy-guard.yml:7: environments.production.smoke[0].expct: is not a known key "
        "(known: expect, get, headers, name, request, timeout); did you mean expect?"
    ]


def test_the_python_names_of_aliased_keys_are_not_accepted() -> None:
    errors = errors_of(MINIMAL + "        expect: {json_values: {$.ok: true}}\n")
    assert errors == [
        "deploy-guard.yml:7: environments.production.smoke[0].expect.json_values: is not a known "
        "key (known: body_contains, json, max_latency, status); did you mean json?"
    ]


def test_keys_that_are_not_plain_words_are_quoted_in_the_path() -> None:
    errors = errors_of(MINIMAL + '        headers: {"X Token": 5}\n')
    assert errors[0].startswith(
        'deploy-guard.yml:7: environments.production.smoke[0].headers["X Token"]: expected text'
    )


def test_duplicate_keys_name_both_lines() -> None:
    errors = errors_of(
        """
        version: 1
        mode: shadow
        environments:
          production: {}
        mode: enforce
        """
    )
    assert errors == ["deploy-guard.yml:5: mode: is given twice (lines 2 and 5); keep one"]


def test_a_yaml_syntax_error_names_its_line() -> None:
    errors = errors_of(MINIMAL + "        expect: {status: 200\n")
    assert len(errors) == 1
    assert errors[0].startswith("deploy-guard.yml:8: not valid YAML: ")


def test_bad_placeholders_anywhere_are_errors_naming_the_variable() -> None:
    errors = errors_of(
        MINIMAL
        + "        headers: {Authorization: 'Bearer ${GITHUB_TOKEN}'}\n"
        + "    on_failure:\n"
        + "      workflow_inputs_are_checked_too: ${AWS_SECRET_ACCESS_KEY}\n"
    )
    assert errors[0] == (
        "deploy-guard.yml:7: environments.production.smoke[0].headers.Authorization: "
        "${GITHUB_TOKEN} cannot be read: only variables named GUARD_SECRET_* "
        "(capitals, digits, _) can fill a placeholder"
    )
    assert errors[1].startswith(
        "deploy-guard.yml:9: environments.production.on_failure.workflow_inputs_are_checked_too: "
        "${AWS_SECRET_ACCESS_KEY} cannot be read"
    )
    assert errors[2].startswith(
        "deploy-guard.yml:9: environments.production.on_failure.workflow_inputs_are_checked_too: "
        "is not a known key"
    )


def test_errors_come_in_line_order() -> None:
    errors = errors_of(
        """
        version: 1
        mode: sometimes
        environments:
          production:
            watch: {interval: fast}
        policy_ref: latest
        """
    )
    assert [error.split(":")[1] for error in errors] == ["2", "5", "6"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, EMPTY_POLICY),
        ("# only a comment\n", 1, EMPTY_POLICY),
        ("just text\n", 1, NOT_A_MAPPING.format(got='"just text"')),
        ("# a list\n- a\n", 2, NOT_A_MAPPING.format(got="a list")),
    ],
)
def test_documents_that_are_not_a_policy(text: str, line: int, message: str) -> None:
    assert errors_of(text) == [f"deploy-guard.yml:{line}: {message}"]


def test_the_document_messages_say_what_a_policy_needs() -> None:
    assert EMPTY_POLICY == (
        'the policy is empty: it needs at least "version: 1" and "environments:"'
    )
    assert NOT_A_MAPPING.format(got="a list") == (
        "the policy must be a mapping of keys (version, environments, ...), got a list"
    )


def test_version_two_is_reported_alone() -> None:
    errors = errors_of("version: 2\nenvironments: not even a mapping\n")
    assert errors == [
        "deploy-guard.yml:1: version: 2 is not a policy version this guard reads: "
        'it reads version 1 (write "version: 1")'
    ]


@pytest.mark.parametrize("version", ['"1"', "1.0", "true", "v1"])
def test_version_must_be_the_number_one(version: str) -> None:
    errors = errors_of(MINIMAL.replace("version: 1", f"version: {version}"))
    assert len(errors) == 1
    assert "is not a policy version this guard reads" in errors[0]


def test_a_missing_version_says_what_to_add() -> None:
    errors = errors_of(MINIMAL.replace("version: 1\n", "# policy\n"))
    assert errors == [
        'deploy-guard.yml:2: version: is required: this guard reads version 1 (add "version: 1" '
        "at the top)"
    ]


def test_anchors_and_merge_keys_are_read_with_the_mapping_own_keys_winning() -> None:
    policy = load_policy(
        policy_text(
            """
            version: 1
            environments:
              production:
                smoke:
                  - &home {name: home page, get: /, expect: {status: 200}}
                  - <<: *home
                    name: home page again
                    get: /index.html
              staging:
                smoke: [*home]
            """
        )
    )
    second = policy.environments["production"].smoke[1]
    assert (second.name, second.get) == ("home page again", "/index.html")
    assert second.expect.status.matches(200)
    assert policy.environments["staging"].smoke[0].name == "home page"


def test_an_alias_bomb_is_refused() -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(PolicyError) as raised:
        load_policy("\n".join(lines) + "\n")
    assert str(raised.value) == (
        f"deploy-guard.yml:1: the policy expands to more than {MAX_VALUES} values "
        "(through aliases); it is too large to read"
    )


def test_a_self_referencing_alias_is_an_error() -> None:
    errors = errors_of(MINIMAL + "    metrics: &loop [*loop]\n")
    assert (
        "deploy-guard.yml:7: environments.production.metrics[0]: refers to itself through an alias"
        in errors
    )


def test_yaml_11_surprises_stay_as_written() -> None:
    policy = load_policy(
        MINIMAL
        + "        expect: {body_contains: 2026-12-24}\n"
        + "    gate:\n      freeze:\n        - {from: 16:00, to: 2026-12-24 18:00}\n"
    )
    production = policy.environments["production"]
    # YAML 1.1 would read 16:00 as the number 960 and 2026-12-24 as a date object.
    assert production.gate.freeze[0].from_ == "16:00"
    assert production.smoke[0].expect.body_contains == "2026-12-24"


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!env PATH", "!env"),
        ("!!binary aGk=", "!!binary"),
        ("!!python/object/apply:os.system [ls]", "!!python/object/apply:os.system"),
        ("!!set {a, b}", "!!set"),
    ],
)
def test_unsupported_tags_are_errors(value: str, tag: str) -> None:
    errors = errors_of(MINIMAL.replace("get: /", f"get: {value}"))
    assert errors[0] == (
        f"deploy-guard.yml:6: environments.production.smoke[0].get: the YAML tag {tag} is not "
        "supported here"
    )


def test_the_filename_is_the_one_given() -> None:
    errors = errors_of(MINIMAL + "mode: sometimes\n", filename=".github/deploy-guard.yml")
    assert errors[0].startswith(".github/deploy-guard.yml:7: mode: ")


def test_policy_errors_keep_structured_issues() -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(MINIMAL + "mode: sometimes\n", "p.yml")
    assert raised.value.issues == (
        PolicyIssue("p.yml", 7, "mode", '"sometimes" is not one of: enforce, shadow'),
    )
    assert raised.value.filename == "p.yml"


def test_format_key_path() -> None:
    assert format_key_path(()) == ""
    assert format_key_path(("environments", "prod", "smoke", 0, "get")) == (
        "environments.prod.smoke[0].get"
    )
    assert format_key_path(("json", "$.a", 'say "x"')) == 'json["$.a"]["say \\"x\\""]'


def test_unreadable_files_are_one_clear_line(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.yml": "cannot read the policy: there is no such file",
        tmp_path: "cannot read the policy: it is a directory, not a file",
    }
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"version: 1\n\xff\xfe")
    cases[binary] = "cannot read the policy: it is not UTF-8 text (byte 0xff at offset 11)"
    for path, message in cases.items():
        with pytest.raises(PolicyReadError) as raised:
            load_policy_file(path)
        assert str(raised.value) == f"{path}: {message}"


def test_a_file_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("policy.yml").write_text(MINIMAL + "mode: sometimes\n", encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        load_policy_file("policy.yml")
    assert str(raised.value).startswith("policy.yml:7: mode: ")
    Path("good.yml").write_text(MINIMAL, encoding="utf-8")
    assert isinstance(load_policy_file("good.yml"), Policy)


def test_environment_or_error() -> None:
    policy = load_policy_file(EXAMPLE)
    assert environment_or_error(policy, "staging") is policy.environments["staging"]
    with pytest.raises(UnknownEnvironmentError) as raised:
        environment_or_error(policy, "prod", ".github/deploy-guard.yml")
    assert str(raised.value) == (
        '.github/deploy-guard.yml: environment "prod" is not in the policy '
        "(known: production, staging); did you mean production?"
    )
    assert raised.value.known == ("production", "staging")
    with pytest.raises(PolicyError) as raised_again:
        environment_or_error(policy, "qa", Path("policy.yml"))
    assert str(raised_again.value) == (
        'policy.yml: environment "qa" is not in the policy (known: production, staging)'
    )


def test_merging_something_other_than_a_mapping_is_an_error() -> None:
    errors = errors_of(MINIMAL + "    gate: {<<: [1]}\n")
    assert errors == [
        "deploy-guard.yml:7: environments.production.gate: << can only merge mappings "
        "(<<: *anchor of a mapping)"
    ]


def test_a_mapping_merging_itself_is_an_error() -> None:
    errors = errors_of(MINIMAL + "    gate: &gate {<<: *gate}\n")
    assert errors == [
        "deploy-guard.yml:7: environments.production.gate: refers to itself through an alias"
    ]


def test_control_characters_are_named_with_their_line() -> None:
    assert errors_of(MINIMAL + "mode: en\x07force\n") == [
        "deploy-guard.yml:7: not valid YAML: special characters are not allowed (U+0007)"
    ]


def test_keys_must_be_text() -> None:
    errors = errors_of(MINIMAL + "? [a, b]\n: c\n")
    assert errors == ["deploy-guard.yml:7: a key must be text, not a list or a mapping"]


FREEZE_EXAMPLES = '(examples: "Fri 16:00", "16:00", "2026-12-24 18:00")'


@pytest.mark.parametrize(
    ("setting", "path", "message"),
    [
        ("watch: {min_samples: 0}", "watch.min_samples", "must be at least 1, got 0"),
        (
            "watch: {fail_when: {consecutive_failures: -1}}",
            "watch.fail_when.consecutive_failures",
            "must be at least 1, got -1",
        ),
        (
            "metrics: [{name: '', cloudwatch_alarm: {alarm_name: a, region: b}}]",
            "metrics[0].name",
            "must not be empty",
        ),
        (
            "on_failure: {rollback: {strategy: aws_lambda, aws: {region: eu-west-1}}}",
            "on_failure.rollback",
            "strategy aws_lambda needs aws: {region, function, alias}",
        ),
        (
            "on_failure: {rollback: {strategy: workflow}}",
            "on_failure.rollback",
            "strategy workflow needs workflow: {file, ref, inputs}",
        ),
        (
            "gate: {freeze: [{from: Fri 16:00, to: Mon 08:00 UTC}]}",
            "gate.freeze[0].to",
            f'"Mon 08:00 UTC" is not a time {FREEZE_EXAMPLES}',
        ),
    ],
)
def test_bounds_and_rules(setting: str, path: str, message: str) -> None:
    assert errors_of(f"{MINIMAL}    {setting}\n") == [
        f"deploy-guard.yml:7: environments.production.{path}: {message}"
    ]


def test_freeze_edges_people_write() -> None:
    policy = load_policy(
        MINIMAL
        + "    gate:\n      freeze:\n"
        + "        - {from: Friday 16:00, to: Monday 08:00}\n"
        + "        - {from: 2026-12-24 18:00, to: 2026-12-27 08:00, timezone: Europe/Berlin}\n"
    )
    freeze = policy.environments["production"].gate.freeze
    assert [(w.from_, w.to, w.timezone) for w in freeze] == [
        ("Friday 16:00", "Monday 08:00", "UTC"),
        ("2026-12-24 18:00", "2026-12-27 08:00", "Europe/Berlin"),
    ]


def test_checks_expose_method_path_and_headers() -> None:
    policy = load_policy_file(EXAMPLE)
    home, health, checkout = policy.environments["production"].smoke
    assert (home.method, home.path) == ("GET", "/")
    assert health.all_headers == {"Authorization": "Bearer ${GUARD_SECRET_SHOP_TOKEN}"}
    assert (checkout.method, checkout.path) == ("POST", "/api/cart/validate")
    assert checkout.request is not None
    assert checkout.request.json_body == {"items": [{"sku": "TEST-1", "qty": 1}]}


def test_an_environment_mode_overrides_the_policy_mode() -> None:
    policy = load_policy(MINIMAL + "  staging: {mode: shadow}\n")
    assert policy.effective_mode("production") == "enforce"
    assert policy.effective_mode("staging") == "shadow"
