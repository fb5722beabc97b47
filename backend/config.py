"""Settings from JIAYI_* environment variables, with defaults for one machine.

In development the secrets that are not given are generated once into the
instance folder, so that `flask run` works on a fresh clone; in production
they must be given, and the service refuses to start without them.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

DEFAULT_WECHAT_API_BASE_URL = "https://api.weixin.qq.com/"


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the variable, never its value."""


def _instance_secret(instance_path: Path, name: str, make) -> str:
    """Read a development secret from instance/, generating it the first time."""
    path = instance_path / name
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    field_keys: str
    field_index_key: str
    wechat_appid: str | None
    wechat_secret: str | None
    wechat_api_base_url: str
    wechat_timeout_seconds: float
    wechat_template_follow_up: str
    wechat_template_renewal: str
    wechat_long_term_templates: tuple[str, ...]
    redis_url: str | None
    ratelimit_storage_url: str
    ratelimit_key_prefix: str
    login_rate_limit: str
    login_ip_rate_limit: str
    access_token_minutes: int
    capacity_per_doctor: int
    controlled_interval_days: int
    import_max_bytes: int = 256 * 1024 * 1024


def load_settings(instance_path: str | Path, environ: dict | None = None) -> Settings:
    env = os.environ if environ is None else environ
    instance = Path(instance_path)
    mode = env.get("JIAYI_ENV", "development")
    if mode not in {"development", "production"}:
        raise ConfigError("JIAYI_ENV must be development or production")
    production = mode == "production"

    def secret(var: str, filename: str, make) -> str:
        value = env.get(var)
        if value:
            return value
        if production:
            raise ConfigError(f"{var} is required when JIAYI_ENV=production")
        return _instance_secret(instance, filename, make)

    database_url = env.get("JIAYI_DATABASE_URL") or f"sqlite:///{instance / 'jiayi.sqlite3'}"
    if database_url.startswith("sqlite:///"):
        instance.mkdir(parents=True, exist_ok=True)

    ratelimit_storage_url = env.get("JIAYI_RATELIMIT_STORAGE_URL") or "memory://"
    if production and ratelimit_storage_url.startswith("memory://"):
        # Each gunicorn worker would count failed logins on its own: 4 workers, 4 times the attempts.
        raise ConfigError("JIAYI_RATELIMIT_STORAGE_URL must name a storage shared by every worker "
                          "(redis://...) when JIAYI_ENV=production")

    return Settings(
        env=mode,
        database_url=database_url,
        secret_key=secret("JIAYI_SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(48)),
        field_keys=secret("JIAYI_FIELD_KEYS", "field_keys", lambda: Fernet.generate_key().decode()),
        field_index_key=secret(
            "JIAYI_FIELD_INDEX_KEY", "field_index_key", lambda: secrets.token_urlsafe(32)
        ),
        wechat_appid=env.get("JIAYI_WECHAT_APPID") or None,
        wechat_secret=env.get("JIAYI_WECHAT_SECRET") or None,
        wechat_api_base_url=env.get("JIAYI_WECHAT_API_BASE_URL") or DEFAULT_WECHAT_API_BASE_URL,
        wechat_timeout_seconds=float(env.get("JIAYI_WECHAT_TIMEOUT_SECONDS") or 5),
        wechat_template_follow_up=env.get("JIAYI_WECHAT_TEMPLATE_FOLLOW_UP") or "demo-follow-up-template",
        wechat_template_renewal=env.get("JIAYI_WECHAT_TEMPLATE_RENEWAL") or "demo-renewal-template",
        wechat_long_term_templates=tuple(
            t.strip() for t in (env.get("JIAYI_WECHAT_LONG_TERM_TEMPLATES") or "").split(",") if t.strip()
        ),
        redis_url=env.get("JIAYI_REDIS_URL") or None,
        ratelimit_storage_url=ratelimit_storage_url,
        ratelimit_key_prefix=env.get("JIAYI_RATELIMIT_KEY_PREFIX") or "jiayi",
        login_rate_limit=env.get("JIAYI_LOGIN_RATE_LIMIT") or "5 per 5 minutes",
        login_ip_rate_limit=env.get("JIAYI_LOGIN_IP_RATE_LIMIT") or "50 per 5 minutes",
        access_token_minutes=int(env.get("JIAYI_ACCESS_TOKEN_MINUTES") or 120),
        capacity_per_doctor=int(env.get("JIAYI_CAPACITY_PER_DOCTOR") or 2000),
        controlled_interval_days=int(env.get("JIAYI_CONTROLLED_INTERVAL_DAYS") or 90),
        import_max_bytes=int(env.get("JIAYI_IMPORT_MAX_MB") or 256) * 1024 * 1024,
    )


# Small statements are not planned in parallel: starting workers cost more than they saved.
# No JIT: compiling a county statistic to machine code took 0.3-0.45 s of its 1.5-3 s, more
# than the compiled code saved.
PG_SESSION_OPTIONS = "-c parallel_setup_cost=20000 -c jit=off"


def generic_plans_connect_args(engine_options: dict) -> dict:
    """The connection arguments of the pool for requests that ask for generic plans (see
    ``extensions.GENERIC_PLANS``): those of the main pool, but each prepared statement planned
    once per connection."""
    return {**engine_options.get("connect_args", {}),
            "options": f"-c plan_cache_mode=force_generic_plan {PG_SESSION_OPTIONS}"}


def _ratelimit_storage_options(url: str) -> dict:
    """Redis client options for the login counters: a Redis that does not answer costs the login
    that finds out about a second, not the ten of redis-py's defaults (five for the request, five
    for the first check whether Redis is back), nor five at each later check."""
    if url.startswith(("redis://", "rediss://", "redis+unix://")):
        return {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    return {}


def flask_config(settings: Settings) -> dict:
    """The Flask, extension and OpenAPI settings that follow from ours."""
    from datetime import timedelta

    # psycopg prepares a statement after five runs and PostgreSQL may then switch it to a
    # generic plan, which cannot see a LIKE prefix or a date bound: the scoped lists became
    # seconds instead of milliseconds under load. Prepared, but planned with the values. (The due
    # list and the visit run on a second pool whose connections plan once: generic_plans_connect_args.)
    engine_options: dict = {"pool_pre_ping": True,
                            "connect_args": {"options": f"-c plan_cache_mode=force_custom_plan {PG_SESSION_OPTIONS}"}}
    if settings.database_url.startswith("sqlite"):
        # SQLite waits for a writer instead of failing at once with "database is locked".
        engine_options = {"connect_args": {"timeout": 30}}
    return {
        "JIAYI": settings,
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "JSON_AS_ASCII": False,
        "JWT_SECRET_KEY": settings.secret_key,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=settings.access_token_minutes),
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ERROR_MESSAGE_KEY": "message",
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage_url,
        "RATELIMIT_STORAGE_OPTIONS": _ratelimit_storage_options(settings.ratelimit_storage_url),
        # Redis unreachable: logins go on, each worker counting in its own memory (the limit per
        # worker, as with memory://) and back on Redis within a minute of its return, rather than
        # every doctor locked out (refusing) or no limit at all (swallowing alone). Swallowing
        # covers what the fallback does not: Redis lost between a request's check and its deduction.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": settings.ratelimit_key_prefix,
        "API_TITLE": "Jiayi 家医",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "家庭医生签约服务后端：居民签约、慢病随访、提醒与县级统计。"
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    }
