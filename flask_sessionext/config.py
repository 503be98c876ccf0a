"""The ``AUTH_*`` configuration keys: their defaults, and validation done once at ``init_app``."""

from __future__ import annotations

import inspect
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast
from urllib.parse import urlsplit

from flask import Flask
from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import RateLimiter

from .errors import ConfigurationError
from .logs import logger
from .theme import Theme, load_theme

#: Where the session lives: an encrypted cookie, or a database row behind an opaque cookie.
Strategy = Literal["jwt", "database"]

DEFAULTS: Mapping[str, Any] = {
    "AUTH_SECRET": None,
    "AUTH_URL": None,
    "AUTH_TRUST_HOST": False,
    "AUTH_BASE_PATH": "/api/auth",
    "AUTH_SESSION_MAX_AGE": 30 * 24 * 60 * 60,
    "AUTH_SESSION_UPDATE_AGE": 24 * 60 * 60,
    "AUTH_COOKIE_SECURE": None,
    "AUTH_PAGES": {},
    "AUTH_THEME": {},
    "AUTH_TOKEN_API": False,
    "AUTH_TOKEN_MAX_AGE": 15 * 60,
    "AUTH_TOKEN_REFRESH_MAX_AGE": 30 * 24 * 60 * 60,
    "AUTH_TOKEN_ALGORITHM": "HS256",
    "AUTH_TOKEN_PRIVATE_KEY": None,
    "AUTH_TOKEN_ISSUER": None,
    "AUTH_TOKEN_AUDIENCE": None,
    "AUTH_TOKEN_PATHS": {},
    "AUTH_TOKEN_REUSE_GRACE": 10,
    "AUTH_RATE_LIMITS": {},
    "AUTH_RATE_LIMIT_STORAGE": "memory://",
}

#: The default rate limit of each action, per client address unless it says ``per key``.
RATE_LIMITS: Mapping[str, str] = {
    "signin": "30/minute",
    "signin_failed": "10/minute; 10/5 minutes per key",
    "email": "10/minute; 3/10 minutes per key",
    "token_login": "30/minute",
    "token_refresh": "60/minute",
    "passkey": "30/minute",
}
#: The actions whose requests name an account (the key of ``per key`` limits).
KEYED_ACTIONS = frozenset({"signin", "signin_failed", "email", "token_login"})
_PER_KEY = " per key"

TOKEN_PATHS: Mapping[str, str] = {
    "login": "/token/login",
    "refresh": "/token/refresh",
    "logout": "/token/logout",
    "jwks": "/jwks",
}
TOKEN_ALGORITHMS = frozenset({"HS256", "RS256", "ES256", "EdDSA"})

#: The file in the app's instance folder that keeps the debug-mode secret.
DEV_SECRET_FILE = "sessionext-dev-secret"

PAGE_NAMES = frozenset({"signin", "signout", "error", "verify_request"})
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class AuthConfig:
    """The validated configuration of one app; built once by :func:`load_config`."""

    secrets: tuple[str, ...]
    url: str | None
    trust_host: bool
    base_path: str
    strategy: Strategy
    max_age: int
    update_age: int
    cookie_secure: bool | None
    pages: Mapping[str, str]
    token_api: TokenAPIConfig | None
    theme: Theme
    rate_limits: RateLimitConfig | None


@dataclass(frozen=True)
class Limit:
    """One parsed limit of an action: so many requests per window, per client or per key."""

    item: RateLimitItem
    per_key: bool


class SharedLimiter(Protocol):
    """What is used of a Flask-Limiter ``Limiter`` whose storage the limits share."""

    enabled: bool

    @property
    def limiter(self) -> RateLimiter: ...


@dataclass(frozen=True)
class RateLimitConfig:
    """``AUTH_RATE_LIMITS`` parsed (an action left out has no limit) and where counts live:
    a ``limits`` storage URI or instance, or the app's Flask-Limiter."""

    limits: Mapping[str, tuple[Limit, ...]]
    storage: str | Storage | SharedLimiter


@dataclass(frozen=True)
class TokenAPIConfig:
    """The bearer-token API's settings (``AUTH_TOKEN_*``), when ``AUTH_TOKEN_API`` is on."""

    max_age: int
    refresh_max_age: int
    algorithm: str
    private_key: str | None
    issuer: str | None
    audience: str | None
    paths: Mapping[str, str]
    reuse_grace: int


def setting(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]``, else the environment variable ``key`` (as Auth.js reads ``AUTH_*``)."""
    value = config.get(key)
    return os.environ.get(key) if value is None else value


def load_config(app: Flask, *, has_adapter: bool) -> AuthConfig:
    """Set every default with ``setdefault``, then validate; raise :class:`ConfigurationError`.

    ``AUTH_SECRET`` (and ``AUTH_SECRET_1`` to ``_3``), ``AUTH_URL`` and ``AUTH_TRUST_HOST`` come
    from the environment when the app config lacks them. The session strategy defaults to
    ``database`` when an adapter is given, else ``jwt``.
    """
    _from_environment(app.config)
    if app.config.get("AUTH_SECRET") is None and app.debug:
        app.config["AUTH_SECRET"] = _development_secret(app)
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.setdefault("AUTH_SESSION_STRATEGY", "database" if has_adapter else "jwt")
    c = app.config
    base_path = "/" + str(c["AUTH_BASE_PATH"]).strip("/")
    url = c["AUTH_URL"]
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"AUTH_URL must be an absolute http(s) URL, got {url!r}.")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ConfigurationError(
                f"AUTH_URL is the app's public origin (like 'https://example.com'), got {url!r}; "
                "set AUTH_BASE_PATH for the path of the auth routes."
            )
        url = f"{parts.scheme}://{parts.netloc}"
    return AuthConfig(
        secrets=_secrets(c["AUTH_SECRET"]),
        url=url,
        trust_host=bool(c["AUTH_TRUST_HOST"]),
        base_path=base_path,
        strategy=_strategy(c["AUTH_SESSION_STRATEGY"], has_adapter),
        max_age=_seconds("AUTH_SESSION_MAX_AGE", c["AUTH_SESSION_MAX_AGE"]),
        update_age=_seconds("AUTH_SESSION_UPDATE_AGE", c["AUTH_SESSION_UPDATE_AGE"], zero=True),
        cookie_secure=None if c["AUTH_COOKIE_SECURE"] is None else bool(c["AUTH_COOKIE_SECURE"]),
        pages=_pages(c["AUTH_PAGES"]),
        token_api=_token_api(c) if c["AUTH_TOKEN_API"] else None,
        theme=load_theme(c["AUTH_THEME"]),
        rate_limits=_rate_limits(c["AUTH_RATE_LIMITS"], c["AUTH_RATE_LIMIT_STORAGE"]),
    )


def _from_environment(config: dict[str, Any]) -> None:
    """Auth.js's environment variables, for the keys the app config leaves unset."""
    env = os.environ
    if config.get("AUTH_SECRET") is None:
        # As Auth.js: the highest-numbered secret encrypts, every one decrypts.
        names = ("AUTH_SECRET_3", "AUTH_SECRET_2", "AUTH_SECRET_1", "AUTH_SECRET")
        found = [env[name] for name in names if env.get(name)]
        if found:
            config["AUTH_SECRET"] = found
    if config.get("AUTH_URL") is None and env.get("AUTH_URL"):
        config["AUTH_URL"] = env["AUTH_URL"]
    if config.get("AUTH_TRUST_HOST") is None and "AUTH_TRUST_HOST" in env:
        config["AUTH_TRUST_HOST"] = _flag("AUTH_TRUST_HOST", env["AUTH_TRUST_HOST"])


def _development_secret(app: Flask) -> str:
    """A secret for ``flask --debug run`` only, kept in the instance folder so reloads and
    restarts keep users signed in."""
    path = os.path.join(app.instance_path, DEV_SECRET_FILE)
    os.makedirs(app.instance_path, exist_ok=True)
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(32))
    except FileExistsError:
        pass  # made by an earlier run, or by the reloader's other process just now
    with open(path) as file:
        value = file.read().strip()
    logger.warning(
        "AUTH_SECRET is not set: debug mode uses the development secret in %s. Never use it "
        "in production; set AUTH_SECRET (`flask auth secret` makes one).",
        path,
    )
    return value


def _flag(key: str, value: str) -> bool:
    """An environment variable read as a boolean: ``1``/``true``/``yes``/``on`` or the opposite."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ConfigurationError(
        f"the environment variable {key} must be true or false, got {value!r}."
    )


def _rate_limits(value: object, storage: object) -> RateLimitConfig | None:
    """``AUTH_RATE_LIMITS`` over :data:`RATE_LIMITS`; ``False`` turns every limit off."""
    if value is False:
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            "AUTH_RATE_LIMITS must be a dict of action to limits (like "
            "{'signin_failed': '10/minute; 10/5 minutes per key'}), or False to turn them off."
        )
    unknown = set(value) - set(RATE_LIMITS)
    if unknown:
        raise ConfigurationError(
            f"AUTH_RATE_LIMITS has unknown actions {sorted(unknown)}; known: {sorted(RATE_LIMITS)}."
        )
    merged = {**RATE_LIMITS, **value}
    limits = {action: _limits(action, text) for action, text in merged.items() if text}
    return RateLimitConfig(limits=limits, storage=_limit_storage(storage))


def _limits(action: str, text: object) -> tuple[Limit, ...]:
    """``"10/minute; 5/5 minutes per key"``: limits' notation, each part maybe ``per key``."""
    how = (
        "write limits like '10/minute' or '5 per 5 minutes', separated by ';', each may end "
        "with 'per key' (per account instead of per client address), or None for no limit"
    )
    if not isinstance(text, str):
        raise ConfigurationError(f"AUTH_RATE_LIMITS[{action!r}] must be a string; {how}.")
    parsed = []
    for part in text.replace(",", ";").split(";"):
        rule = part.strip()
        per_key = rule.endswith(_PER_KEY)
        if per_key and action not in KEYED_ACTIONS:
            raise ConfigurationError(
                f"AUTH_RATE_LIMITS[{action!r}]: {action} requests name no account, "
                f"so 'per key' limits do not apply; keyed actions: {sorted(KEYED_ACTIONS)}."
            )
        try:
            (item,) = parse_many(rule.removesuffix(_PER_KEY).strip())
        except ValueError:
            raise ConfigurationError(
                f"AUTH_RATE_LIMITS[{action!r}] has {rule!r}, which is not a limit; {how}."
            ) from None
        parsed.append(Limit(item, per_key))
    return tuple(parsed)


def _limit_storage(value: object) -> str | Storage | SharedLimiter:
    """A ``limits`` storage URI, a ``limits`` storage, or a Flask-Limiter ``Limiter``."""
    if isinstance(value, Storage):
        return value
    shared = shared_limiter(value)
    if shared is not None:
        return shared
    if not isinstance(value, str) or "://" not in value:
        raise ConfigurationError(
            "AUTH_RATE_LIMIT_STORAGE must be a limits storage URI (memory://, redis://host:6379, "
            "redis+cluster://host:7000, ...), a limits Storage, or a Flask-Limiter Limiter; "
            f"got a {type(value).__name__}."
        )
    return value


def shared_limiter(value: object) -> SharedLimiter | None:
    """``value`` if it is a Flask-Limiter ``Limiter`` (looked up without running its
    properties, which assert it was initialised), else ``None``."""
    if inspect.getattr_static(value, "limiter", None) is None:
        return None
    if not isinstance(inspect.getattr_static(value, "enabled", None), bool):
        return None
    return cast(SharedLimiter, value)


def _token_api(c: Mapping[str, Any]) -> TokenAPIConfig:
    algorithm, key = c["AUTH_TOKEN_ALGORITHM"], c["AUTH_TOKEN_PRIVATE_KEY"]
    if algorithm not in TOKEN_ALGORITHMS:
        raise ConfigurationError(
            f"AUTH_TOKEN_ALGORITHM must be one of {sorted(TOKEN_ALGORITHMS)}, got {algorithm!r}."
        )
    if (algorithm == "HS256") != (key is None):
        raise ConfigurationError(
            "AUTH_TOKEN_PRIVATE_KEY (a PEM private key) is needed for RS256, ES256 and EdDSA, "
            "and must be unset for HS256 (its key is derived from AUTH_SECRET)."
        )
    paths = c["AUTH_TOKEN_PATHS"]
    if not isinstance(paths, Mapping) or set(paths) - set(TOKEN_PATHS):
        raise ConfigurationError(f"AUTH_TOKEN_PATHS may set {sorted(TOKEN_PATHS)}.")
    return TokenAPIConfig(
        max_age=_seconds("AUTH_TOKEN_MAX_AGE", c["AUTH_TOKEN_MAX_AGE"]),
        refresh_max_age=_seconds("AUTH_TOKEN_REFRESH_MAX_AGE", c["AUTH_TOKEN_REFRESH_MAX_AGE"]),
        algorithm=algorithm,
        private_key=key,
        issuer=c["AUTH_TOKEN_ISSUER"],
        audience=c["AUTH_TOKEN_AUDIENCE"],
        paths={**TOKEN_PATHS, **paths},
        reuse_grace=_seconds("AUTH_TOKEN_REUSE_GRACE", c["AUTH_TOKEN_REUSE_GRACE"], zero=True),
    )


def _secrets(value: object) -> tuple[str, ...]:
    how = "generate one with `flask auth secret` and set it in the app config or the environment"
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not value:
        raise ConfigurationError(f"AUTH_SECRET is not set; {how}")
    for item in value:
        if not isinstance(item, str) or len(item.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"every AUTH_SECRET must be a string of at least {MIN_SECRET_BYTES} bytes; {how}"
            )
    return tuple(value)


def _strategy(value: object, has_adapter: bool) -> Strategy:
    if value != "jwt" and value != "database":
        raise ConfigurationError(
            f"AUTH_SESSION_STRATEGY must be 'jwt' or 'database', got {value!r}."
        )
    if value == "database" and not has_adapter:
        raise ConfigurationError(
            "AUTH_SESSION_STRATEGY 'database' needs an adapter: "
            "AuthExt(providers=[...], adapter=SQLAlchemyAdapter(db))."
        )
    return value


def _seconds(key: str, value: object, *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise ConfigurationError(
            f"{key} must be a {'non-negative' if zero else 'positive'} "
            f"number of seconds, got {value!r}."
        )
    return value


def _pages(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("AUTH_PAGES must be a dict of page name to URL.")
    unknown = set(value) - PAGE_NAMES
    if unknown:
        raise ConfigurationError(
            f"AUTH_PAGES has unknown pages {sorted(unknown)}; known: {sorted(PAGE_NAMES)}."
        )
    return dict(value)
