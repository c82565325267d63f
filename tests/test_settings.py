"""Settings: every variable read, every mistake reported in one line, secrets never shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guard.settings import (
    DEFAULT_DATABASE_URL,
    ENVIRONMENT_VARIABLES,
    MISSING_WEBHOOK_SECRET,
    NO_GITHUB_CREDENTIALS,
    Settings,
    SettingsError,
    load_settings,
)

ENV_EXAMPLE = Path(__file__).parent.parent / ".env.example"
FAKE_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAsecretsecretsecretsecretsecretsecretsecret\n"
    "-----END RSA PRIVATE KEY-----\n"
)
APP = {"GUARD_WEBHOOK_SECRET": "hook-secret-value", "GUARD_GITHUB_APP_ID": "12345"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own GUARD_* variables must not change these tests."""
    for variable in ENVIRONMENT_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)


def test_defaults() -> None:
    settings = load_settings({}, require_github=False)

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///deploy-guard.db"
    assert settings.queue_url == "sqlite:///deploy-guard-queue.db"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.oidc_issuer == "https://token.actions.githubusercontent.com"
    assert settings.allowed_hosts == ()
    assert settings.oidc_allowed_owners == ()
    assert settings.allow_private_networks is False
    assert settings.dry_run is False
    assert settings.log_format == "json"
    assert settings.webhook_secret is None
    assert settings.public_url is None
    assert settings.sentry_dsn is None
    assert settings.github_auth_mode is None
    assert settings.github_private_key() is None


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "GUARD_WEBHOOK_SECRET": "hook-secret-value",
            "GUARD_GITHUB_TOKEN": "ghs_token_value",
            "GUARD_GITHUB_API_URL": "https://ghes.example.com/api/v3/",
            "GUARD_DATABASE_URL": "postgres://guard:db-password@db.internal/guard",
            "GUARD_QUEUE_URL": "redis://:redis-password@cache.internal:6379/2",
            "GUARD_PUBLIC_URL": "https://guard.example.com/",
            "GUARD_ALLOWED_HOSTS": " *.Example.com , status.example.org,,",
            "GUARD_ALLOW_PRIVATE_NETWORKS": "1",
            "GUARD_OIDC_AUDIENCE": "deploy-guard",
            "GUARD_OIDC_ALLOWED_OWNERS": "octo-org, Codertocat",
            "GUARD_OIDC_ISSUER": "https://ghes.example.com/_services/token",
            "GUARD_DRY_RUN": "true",
            "SENTRY_DSN": "https://sentry-key@sentry.example.com/1",
            "GUARD_LOG_FORMAT": "Text",
        }
    )

    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "hook-secret-value"
    assert settings.github_auth_mode == "token"
    assert settings.github_api_url == "https://ghes.example.com/api/v3"
    # PostgreSQL always goes through psycopg 3, whatever scheme spelling was given.
    assert settings.database_url == "postgresql+psycopg://guard:db-password@db.internal/guard"
    assert settings.queue_url == "redis://:redis-password@cache.internal:6379/2"
    assert settings.public_url == "https://guard.example.com"
    assert settings.allowed_hosts == ("*.example.com", "status.example.org")
    assert settings.allow_private_networks is True
    assert settings.oidc_audience == "deploy-guard"
    assert settings.oidc_allowed_owners == ("octo-org", "Codertocat")
    assert settings.oidc_issuer == "https://ghes.example.com/_services/token"
    assert settings.dry_run is True
    assert settings.sentry_dsn is not None
    assert settings.sentry_dsn.get_secret_value() == "https://sentry-key@sentry.example.com/1"
    assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("database_url", "queue_url"),
    [
        ("sqlite:///deploy-guard.db", "sqlite:///deploy-guard-queue.db"),
        ("sqlite:///data/guard.sqlite3", "sqlite:///data/guard-queue.sqlite3"),
        ("sqlite:////var/lib/guard/state.db", "sqlite:////var/lib/guard/state-queue.db"),
        ("sqlite:///:memory:", "sqlite:///deploy-guard-queue.db"),
        ("postgresql+psycopg://db.internal/guard", "sqlite:///deploy-guard-queue.db"),
    ],
)
def test_the_default_queue_sits_beside_the_database(database_url: str, queue_url: str) -> None:
    settings = load_settings({"GUARD_DATABASE_URL": database_url}, require_github=False)

    assert settings.queue_url == queue_url


def test_blank_values_count_as_unset() -> None:
    settings = load_settings(
        {"GUARD_PUBLIC_URL": "  ", "GUARD_LOG_FORMAT": "", "GUARD_GITHUB_APP_ID": ""},
        require_github=False,
    )

    assert settings.public_url is None
    assert settings.log_format == "json"
    assert settings.github_app_id is None


def test_an_explicit_mapping_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARD_LOG_FORMAT", "xml")

    assert load_settings({}, require_github=False).log_format == "json"
    with pytest.raises(SettingsError, match="GUARD_LOG_FORMAT"):
        load_settings(require_github=False)


def test_the_model_reads_the_process_environment_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_ALLOWED_HOSTS", "a.example.com,b.example.com")
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example.com/2")
    monkeypatch.setenv("GUARD_DRY_RUN", "yes")

    settings = Settings()

    assert settings.allowed_hosts == ("a.example.com", "b.example.com")
    assert settings.sentry_dsn is not None
    assert settings.dry_run is True


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_app_credentials_from_pem_text_with_escaped_newlines() -> None:
    escaped = FAKE_PEM.strip().replace("\n", "\\n")

    settings = load_settings({**APP, "GUARD_GITHUB_PRIVATE_KEY": escaped})

    assert settings.github_auth_mode == "app"
    assert settings.github_app_id == 12345
    assert settings.github_private_key() == FAKE_PEM


def test_app_credentials_from_a_key_file(tmp_path: Path) -> None:
    key_file = _write(tmp_path / "app.pem", "\n" + FAKE_PEM + "\n\n")

    settings = load_settings({**APP, "GUARD_GITHUB_PRIVATE_KEY_FILE": str(key_file)})

    assert settings.github_auth_mode == "app"
    assert settings.github_private_key() == FAKE_PEM


def _error(environ: dict[str, str], *, require_github: bool = True) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, require_github=require_github)
    message = str(caught.value)
    assert "\n" not in message
    assert message
    return message


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GUARD_GITHUB_TOKEN": "t"}, MISSING_WEBHOOK_SECRET),
        ({"GUARD_WEBHOOK_SECRET": "s"}, NO_GITHUB_CREDENTIALS),
        (
            APP,
            "GUARD_GITHUB_APP_ID is set but the App's private key is not: set "
            "GUARD_GITHUB_PRIVATE_KEY (PEM text) or GUARD_GITHUB_PRIVATE_KEY_FILE",
        ),
        (
            {"GUARD_WEBHOOK_SECRET": "s", "GUARD_GITHUB_PRIVATE_KEY": FAKE_PEM},
            "GUARD_GITHUB_PRIVATE_KEY is set but GUARD_GITHUB_APP_ID is not: the private key "
            "needs its App's ID",
        ),
        (
            {**APP, "GUARD_GITHUB_PRIVATE_KEY": FAKE_PEM, "GUARD_GITHUB_PRIVATE_KEY_FILE": "k"},
            "GUARD_GITHUB_PRIVATE_KEY and GUARD_GITHUB_PRIVATE_KEY_FILE are both set: give the "
            "App's private key one way",
        ),
        (
            {**APP, "GUARD_GITHUB_PRIVATE_KEY": FAKE_PEM, "GUARD_GITHUB_TOKEN": "t"},
            "GUARD_GITHUB_TOKEN and the GitHub App credentials are both set: the guard "
            "authenticates one way, so unset GUARD_GITHUB_TOKEN or the "
            "GUARD_GITHUB_APP_ID/PRIVATE_KEY variables",
        ),
        (
            {**APP, "GUARD_GITHUB_PRIVATE_KEY_FILE": "/x/y.pem"},
            "GUARD_GITHUB_PRIVATE_KEY_FILE: /x/y.pem cannot be read (No such file or directory)",
        ),
        (
            {**APP, "GUARD_GITHUB_PRIVATE_KEY": "ghp_not_a_key"},
            "GUARD_GITHUB_PRIVATE_KEY: the value is not a PEM private key (expected the .pem "
            "file GitHub generated, starting with -----BEGIN RSA PRIVATE KEY-----)",
        ),
        (
            {"GUARD_LOG_FORMAT": "xml"},
            'GUARD_LOG_FORMAT: "xml" is not one of json, text',
        ),
        (
            {"GUARD_DRY_RUN": "maybe"},
            'GUARD_DRY_RUN: "maybe" is not true or false',
        ),
        (
            {"GUARD_GITHUB_APP_ID": "my-app"},
            'GUARD_GITHUB_APP_ID: "my-app" is not a whole number',
        ),
        (
            {"GUARD_GITHUB_APP_ID": "-4"},
            "GUARD_GITHUB_APP_ID: input should be greater than 0",
        ),
        (
            {"GUARD_DATABASE_URL": "deploy-guard.db"},
            'GUARD_DATABASE_URL: "deploy-guard.db" is not a database URL (expected '
            "sqlite:///path/to/file.db or postgresql+psycopg://user@host/database)",
        ),
        (
            {"GUARD_DATABASE_URL": "mysql://guard:hunter2@db/guard"},
            'GUARD_DATABASE_URL: "mysql://guard:***@db/guard" uses mysql; the guard stores its '
            "state in SQLite (sqlite:///...) or PostgreSQL (postgresql+psycopg://...)",
        ),
        (
            {"GUARD_QUEUE_URL": "amqp://broker"},
            'GUARD_QUEUE_URL: "amqp://broker" is not a queue URL (expected '
            "sqlite:///path/to/queue.db or redis://host:6379/0)",
        ),
        (
            {"GUARD_PUBLIC_URL": "guard.example.com"},
            'GUARD_PUBLIC_URL: "guard.example.com" is not an http(s) URL (where people reach '
            "this service, e.g. https://guard.example.com)",
        ),
        (
            {"GUARD_GITHUB_API_URL": "ftp://api.github.com"},
            'GUARD_GITHUB_API_URL: "ftp://api.github.com" is not an http(s) URL (GitHub\'s '
            "REST API root, e.g. https://api.github.com)",
        ),
        (
            {"GUARD_OIDC_ISSUER": "token.actions.githubusercontent.com"},
            'GUARD_OIDC_ISSUER: "token.actions.githubusercontent.com" is not an http(s) URL '
            "(the Actions OIDC issuer)",
        ),
        (
            {"GUARD_ALLOWED_HOSTS": "api.example.com, https://status.example.com"},
            'GUARD_ALLOWED_HOSTS: "https://status.example.com" is not a host name or glob (give '
            "names such as api.example.com or *.example.com, comma-separated, without a scheme "
            "or path)",
        ),
        (
            {"GUARD_OIDC_ALLOWED_OWNERS": "octo-org,octo org"},
            'GUARD_OIDC_ALLOWED_OWNERS: "octo org" is not a GitHub user or organization name',
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    # Cases about credentials configure some; the others are checked as a db-only command.
    require_github = "GUARD_WEBHOOK_SECRET" in environ or "GUARD_GITHUB_TOKEN" in environ

    assert _error(environ, require_github=require_github) == message


def test_a_key_file_that_is_not_a_key(tmp_path: Path) -> None:
    key_file = _write(tmp_path / "app.pem", "ssh-ed25519 AAAAC3Nza... me@laptop\n")

    message = _error({**APP, "GUARD_GITHUB_PRIVATE_KEY_FILE": str(key_file)})

    assert message == (
        f"GUARD_GITHUB_PRIVATE_KEY_FILE: {key_file} is not a PEM private key (expected the "
        ".pem file GitHub generated, starting with -----BEGIN RSA PRIVATE KEY-----)"
    )


def test_a_key_file_that_is_a_directory(tmp_path: Path) -> None:
    message = _error({**APP, "GUARD_GITHUB_PRIVATE_KEY_FILE": str(tmp_path)})

    assert message == f"GUARD_GITHUB_PRIVATE_KEY_FILE: {tmp_path} cannot be read (Is a directory)"


def test_several_mistakes_name_the_others_on_the_same_line() -> None:
    message = _error(
        {"GUARD_LOG_FORMAT": "xml", "GUARD_DRY_RUN": "maybe", "GUARD_QUEUE_URL": "x"},
        require_github=False,
    )

    assert message == (
        'GUARD_QUEUE_URL: "x" is not a queue URL (expected sqlite:///path/to/queue.db or '
        "redis://host:6379/0) (also wrong: GUARD_DRY_RUN, GUARD_LOG_FORMAT)"
    )


def test_db_only_commands_need_neither_github_nor_the_webhook_secret() -> None:
    settings = load_settings({"GUARD_DATABASE_URL": "sqlite:///x.db"}, require_github=False)

    assert settings.database_url == "sqlite:///x.db"


def test_a_worker_needs_github_but_not_the_webhook_secret() -> None:
    settings = load_settings({"GUARD_GITHUB_TOKEN": "t"}, require_webhook_secret=False)

    assert settings.github_auth_mode == "token"


SECRET_VALUES = (
    "hook-secret-value",
    "ghs_token_value",
    "db-password",
    "redis-password",
    "sentry-key",
    "secretsecret",
)


def test_secrets_never_appear_in_repr_str_or_json() -> None:
    settings = load_settings(
        {
            "GUARD_WEBHOOK_SECRET": "hook-secret-value",
            "GUARD_GITHUB_TOKEN": "ghs_token_value",
            "GUARD_DATABASE_URL": "postgresql://guard:db-password@db.internal/guard",
            "GUARD_QUEUE_URL": "redis://:redis-password@cache.internal:6379/0",
            "SENTRY_DSN": "https://sentry-key@sentry.example.com/1",
        }
    )
    app = load_settings({**APP, "GUARD_GITHUB_PRIVATE_KEY": FAKE_PEM})

    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(app), str(app)):
        for secret in SECRET_VALUES:
            assert secret not in shown
    assert "postgresql+psycopg://guard:***@db.internal/guard" in repr(settings)
    assert "redis://:***@cache.internal:6379/0" in settings.model_dump_json()
    # The attributes themselves stay usable.
    assert settings.database_url == "postgresql+psycopg://guard:db-password@db.internal/guard"


def test_errors_never_show_a_secret() -> None:
    message = _error({**APP, "GUARD_GITHUB_PRIVATE_KEY": "secretsecret-not-a-pem"})

    assert "secretsecret" not in message
    assert message.startswith("GUARD_GITHUB_PRIVATE_KEY: the value is not a PEM private key")


def _env_example() -> tuple[dict[str, str], list[str]]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    values: dict[str, str] = {}
    undocumented = []
    for number, line in enumerate(lines):
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match is None:
            continue
        values[match.group(1)] = match.group(2)
        if number == 0 or not lines[number - 1].startswith("#"):
            undocumented.append(match.group(1))
    return values, undocumented


def test_env_example_documents_every_variable_with_a_comment() -> None:
    values, undocumented = _env_example()

    assert set(values) == set(ENVIRONMENT_VARIABLES.values())
    assert undocumented == []
    assert "GUARD_SECRET_" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_env_example_values_are_the_defaults() -> None:
    values, _ = _env_example()

    from_example = load_settings(values, require_github=False)

    assert from_example == load_settings({}, require_github=False)
