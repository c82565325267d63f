"""The guard's configuration: one pydantic-settings model of the GUARD_* variables, checked once."""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "GUARD_"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_DATABASE_URL = "sqlite:///deploy-guard.db"
DEFAULT_QUEUE_FILE = "deploy-guard-queue.db"
DEFAULT_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
# SQLite's `PRAGMA synchronous` for the guard's database: `full` fsyncs the WAL at every
# commit (a power cut loses nothing committed); `normal` fsyncs only at checkpoints (a crash
# or kill -9 of the guard loses nothing; a power cut can lose the last commits).
SqliteSynchronous = Literal["full", "normal"]
# The request's commit of a delivery: `auto` is `normal` where GitHub's delivery log is a
# second copy the catch-up redelivers from (a GitHub App), else the database's own setting.
IntakeSynchronous = Literal["auto", "full", "normal"]

# A message about the secret, not a secret.
MISSING_WEBHOOK_SECRET = (
    "GUARD_WEBHOOK_SECRET is not set: the webhook service needs the secret GitHub signs "  # noqa: S105
    "deliveries with"
)
NO_GITHUB_CREDENTIALS = (
    "no GitHub credentials: set GUARD_GITHUB_APP_ID with GUARD_GITHUB_PRIVATE_KEY or "
    "GUARD_GITHUB_PRIVATE_KEY_FILE (a GitHub App), or GUARD_GITHUB_TOKEN"
)
BOTH_CREDENTIALS = (
    "GUARD_GITHUB_TOKEN and the GitHub App credentials are both set: the guard authenticates "
    "one way, so unset GUARD_GITHUB_TOKEN or the GUARD_GITHUB_APP_ID/PRIVATE_KEY variables"
)
BOTH_KEYS = (
    "GUARD_GITHUB_PRIVATE_KEY and GUARD_GITHUB_PRIVATE_KEY_FILE are both set: give the App's "
    "private key one way"
)
APP_ID_WITHOUT_KEY = (
    "GUARD_GITHUB_APP_ID is set but the App's private key is not: set GUARD_GITHUB_PRIVATE_KEY "
    "(PEM text) or GUARD_GITHUB_PRIVATE_KEY_FILE"
)
KEY_WITHOUT_APP_ID = (
    "{variable} is set but GUARD_GITHUB_APP_ID is not: the private key needs its App's ID"
)
NOT_A_PEM_KEY = (
    "{variable}: {what} is not a PEM private key (expected the .pem file GitHub generated, "
    "starting with -----BEGIN RSA PRIVATE KEY-----)"
)

_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@/\s]*@")
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
)


# Set while load_settings builds a model from a mapping it was given: the model must then read
# that mapping alone, never the process environment.
_LOADING_FROM_MAPPING: ContextVar[bool] = ContextVar("guard_settings_from_mapping", default=False)


class SettingsError(ValueError):
    """A missing or wrong setting; its text is one line naming the variable and the problem."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print and log."""
    return _USERINFO_PASSWORD.sub(r"\1:***@", url)


def normalize_database_url(url: str) -> str:
    """A SQLAlchemy URL the guard can open: PostgreSQL always through psycopg 3.

    Raises ValueError with a sentence saying what is wrong when the URL is not one.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ValueError(
            f'"{redact_url(text)}" is not a database URL (expected sqlite:///path/to/file.db '
            "or postgresql+psycopg://user@host/database)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return text
    raise ValueError(
        f'"{redact_url(text)}" uses {parsed.drivername}; the guard stores its state in SQLite '
        "(sqlite:///...) or PostgreSQL (postgresql+psycopg://...)"
    )


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


# The settings that hold http(s) URLs, and what each is for (said when one is wrong).
_URL_PURPOSES = {
    "github_api_url": "GitHub's REST API root, e.g. https://api.github.com",
    "public_url": "where people reach this service, e.g. https://guard.example.com",
    "oidc_issuer": "the Actions OIDC issuer",
}


def _http_url(value: str, *, what: str) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'"{redact_url(text)}" is not an http(s) URL ({what})')
    return text.rstrip("/")


class Settings(BaseSettings):
    """Everything the guard reads from its environment. Secrets are SecretStr: never shown."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    webhook_secret: SecretStr | None = None
    github_app_id: int | None = Field(None, gt=0)
    # Named apart from the env variable so that `github_private_key()` can resolve key vs file.
    github_private_key_pem: SecretStr | None = Field(
        None, validation_alias="GUARD_GITHUB_PRIVATE_KEY"
    )
    github_private_key_file: Path | None = None
    github_token: SecretStr | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    sqlite_synchronous: SqliteSynchronous = "full"
    intake_synchronous: IntakeSynchronous = "auto"
    # Filled from the database URL when unset: SQLite beside the database file.
    queue_url: str = ""
    public_url: str | None = None
    allowed_hosts: CommaList = ()
    allow_private_networks: bool = False
    oidc_audience: str | None = None
    oidc_allowed_owners: CommaList = ()
    oidc_issuer: str = DEFAULT_OIDC_ISSUER
    dry_run: bool = False
    sentry_dsn: SecretStr | None = Field(None, validation_alias="SENTRY_DSN")
    log_format: Literal["json", "text"] = "json"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _LOADING_FROM_MAPPING.get():
            return (init_settings,)
        return (init_settings, env_settings)

    @model_validator(mode="before")
    @classmethod
    def _default_queue_beside_database(cls, data: Any) -> Any:
        if isinstance(data, dict) and not str(data.get("queue_url") or "").strip():
            database = str(data.get("database_url") or DEFAULT_DATABASE_URL)
            return {**data, "queue_url": default_queue_url(database)}
        return data

    @field_validator("github_app_id", "public_url", "oidc_audience", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*_URL_PURPOSES)
    @classmethod
    def _http_urls(cls, value: str | None, info: ValidationInfo) -> str | None:
        purpose = _URL_PURPOSES[str(info.field_name)]
        return None if value is None else _http_url(value, what=purpose)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme == "sqlite" and parts.path.strip("/"):
            return text
        if parts.scheme in ("redis", "rediss") and parts.hostname:
            return text
        raise ValueError(
            f'"{redact_url(text)}" is not a queue URL (expected sqlite:///path/to/queue.db '
            "or redis://host:6379/0)"
        )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if "/" in pattern or " " in pattern:
                raise ValueError(
                    f'"{pattern}" is not a host name or glob (give names such as '
                    "api.example.com or *.example.com, comma-separated, without a scheme or path)"
                )
        return tuple(pattern.lower() for pattern in value)

    @field_validator("oidc_allowed_owners")
    @classmethod
    def _owner_logins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for login in value:
            if not _GITHUB_LOGIN.match(login):
                raise ValueError(f'"{login}" is not a GitHub user or organization name')
        return value

    @field_validator("log_format", "sqlite_synchronous", "intake_synchronous", mode="before")
    @classmethod
    def _choice_any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def intake_sqlite_synchronous(self) -> SqliteSynchronous:
        """How the request's commit of a delivery waits for the disk on SQLite.

        `normal` leaves the fsync to the next commit of a `full` connection (the delivery's
        handler, moments later): a crash or kill of the guard loses nothing, and what a power
        cut takes was answered 2xx in GitHub's delivery log, which the catch-up reads at
        start-up and redelivers from. Only an App has that log; with a plain token `auto`
        keeps the database's setting.
        """
        if self.intake_synchronous != "auto":
            return self.intake_synchronous
        if self.github_auth_mode == "app":
            return "normal"
        return self.sqlite_synchronous

    @property
    def github_auth_mode(self) -> Literal["app", "token"] | None:
        """How the guard authenticates to GitHub: as an App, with a token, or not at all."""
        if self.github_token is not None:
            return "token"
        has_key = (
            self.github_private_key_pem is not None or self.github_private_key_file is not None
        )
        if self.github_app_id is not None and has_key:
            return "app"
        return None

    def github_private_key(self) -> str | None:
        """The App's private key as PEM text, from GUARD_GITHUB_PRIVATE_KEY or the key file.

        Raises SettingsError when the file cannot be read or neither holds a PEM private key.
        """
        if self.github_private_key_pem is not None:
            variable, what = "GUARD_GITHUB_PRIVATE_KEY", "the value"
            text = self.github_private_key_pem.get_secret_value()
        elif self.github_private_key_file is not None:
            variable, what = "GUARD_GITHUB_PRIVATE_KEY_FILE", str(self.github_private_key_file)
            try:
                text = self.github_private_key_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
                raise SettingsError(f"{variable}: {what} cannot be read ({why})") from None
        else:
            return None
        # Platforms that cannot hold multi-line values store the PEM with literal "\n"s.
        if "\n" not in text.strip() and "\\n" in text:
            text = text.replace("\\n", "\n")
        text = text.strip() + "\n"
        if not _PEM_PRIVATE_KEY.search(text):
            raise SettingsError(NOT_A_PEM_KEY.format(variable=variable, what=what))
        return text

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # URLs may carry a password (postgresql://user:pw@..., redis://:pw@...).
        for name, value in super().__repr_args__():
            if name in ("database_url", "queue_url") and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

    @field_serializer("database_url", "queue_url", when_used="json")
    def _url_without_password(self, value: str) -> str:
        # JSON dumps end up in logs and pages; the attribute keeps the usable URL.
        return redact_url(value)


def default_queue_url(database_url: str) -> str:
    """SQLite beside a SQLite database (x.db -> x-queue.db), else in the working directory."""
    parts = urlsplit(database_url.strip())
    path = parts.path[1:] if parts.scheme == "sqlite" else ""
    if not path or path == ":memory:" or parts.query:
        return f"sqlite:///{DEFAULT_QUEUE_FILE}"
    database = Path(path)
    queue = database.with_name(f"{database.stem}-queue{database.suffix or '.db'}")
    return f"sqlite:///{queue.as_posix()}"


# field -> the variable it is read from: its alias, or GUARD_ and its name in capitals.
ENVIRONMENT_VARIABLES: Mapping[str, str] = {
    name: alias if isinstance(alias := field.validation_alias, str) else ENV_PREFIX + name.upper()
    for name, field in Settings.model_fields.items()
}
# What a validation error's location names (a field, or an alias) -> the field.
_FIELD_OF: Mapping[str, str] = {
    **{name: name for name in ENVIRONMENT_VARIABLES},
    **{variable: name for name, variable in ENVIRONMENT_VARIABLES.items()},
}
_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    require_github: bool = True,
    require_webhook_secret: bool | None = None,
) -> Settings:
    """Read and check the settings from `environ` (default: the process environment).

    `require_github` demands GitHub credentials (an App's id and key, or a token);
    `require_webhook_secret` (default: the same as `require_github`) demands the webhook
    secret. Commands that only touch the database pass `require_github=False`.
    Raises SettingsError with one line naming the variable and what is wrong.
    """
    source = os.environ if environ is None else environ
    data: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        variable = ENVIRONMENT_VARIABLES[name]
        value = source.get(variable)
        if value is not None and value.strip():
            key = field.validation_alias if isinstance(field.validation_alias, str) else name
            data[key] = value
    token = _LOADING_FROM_MAPPING.set(True)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None
    finally:
        _LOADING_FROM_MAPPING.reset(token)
    if require_webhook_secret is None:
        require_webhook_secret = require_github
    if require_webhook_secret and settings.webhook_secret is None:
        raise SettingsError(MISSING_WEBHOOK_SECRET)
    if require_github:
        check_github_credentials(settings)
    return settings


def check_github_credentials(settings: Settings) -> None:
    """Raise SettingsError unless exactly one way to authenticate to GitHub is fully given."""
    has_text_key = settings.github_private_key_pem is not None
    has_file_key = settings.github_private_key_file is not None
    has_app_id = settings.github_app_id is not None
    if has_text_key and has_file_key:
        raise SettingsError(BOTH_KEYS)
    if settings.github_token is not None:
        if has_app_id or has_text_key or has_file_key:
            raise SettingsError(BOTH_CREDENTIALS)
        return
    if has_app_id and not (has_text_key or has_file_key):
        raise SettingsError(APP_ID_WITHOUT_KEY)
    if not has_app_id and (has_text_key or has_file_key):
        variable = "GUARD_GITHUB_PRIVATE_KEY" if has_text_key else "GUARD_GITHUB_PRIVATE_KEY_FILE"
        raise SettingsError(KEY_WITHOUT_APP_ID.format(variable=variable))
    if not has_app_id:
        raise SettingsError(NO_GITHUB_CREDENTIALS)
    settings.github_private_key()


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = _names(errors[0]["loc"])[1]
    others = sorted({_names(error["loc"])[1] for error in errors[1:]} - {first})
    also = f" (also wrong: {', '.join(others)})" if others else ""
    return _describe(errors[0]) + also


def _names(location: tuple[int | str, ...]) -> tuple[str, str]:
    """(field, variable) of an error's location."""
    key = str(location[0]) if location else ""
    name = _FIELD_OF.get(key, key)
    return name, ENVIRONMENT_VARIABLES.get(name, key or "the settings")


def _describe(error: Any) -> str:
    name, variable = _names(error["loc"])
    kind = error["type"]
    message = str(error["msg"])
    shown = error.get("input") if name not in _SECRET_FIELDS else None
    if kind == "value_error":
        return f"{variable}: {message.removeprefix('Value error, ')}"
    if kind == "literal_error" and isinstance(shown, str):
        choices = ", ".join(
            str(choice) for choice in typing.get_args(Settings.model_fields[name].annotation)
        )
        return f'{variable}: "{shown}" is not one of {choices}'
    if kind == "bool_parsing" and isinstance(shown, str):
        return f'{variable}: "{shown}" is not true or false'
    if kind == "int_parsing" and isinstance(shown, str):
        return f'{variable}: "{shown}" is not a whole number'
    return f"{variable}: {message[:1].lower()}{message[1:]}"
