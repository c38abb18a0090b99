"""Settings from environment variables, read once when the app is created (never at import)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# A reuse grace window is for requests racing each other, not for replays: past a minute it would
# mostly hide a stolen refresh token (Okta caps its rotation grace period at 60 s too).
MAX_REFRESH_REUSE_GRACE = 60
# What an upload's body carries besides its file: the multipart boundaries, the parts' headers and
# the two id fields. The upload body limit (HUBWIRE_MAX_UPLOAD_BODY) is at least the largest file
# (HUBWIRE_MEDIA_MAX_BYTES) plus this, so a file the media limit accepts is never refused by it.
UPLOAD_ENVELOPE_BYTES = 64 * 1024


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _numbers(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k.startswith(prefix) and v not in (None, "")}
    for k, v in out.items():
        try:
            float(v)
        except ValueError:
            raise SettingsError(f"{k} must be a number, got {v!r}") from None
    return out


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _int_between(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _int(env, name, default)
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _service_url(env: Mapping[str, str], name: str) -> str | None:
    """An ``http(s)://host[:port][/path]`` base address (no query, fragment or credentials), without
    its trailing slash; None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise SettingsError(f"{name} must be an http:// or https:// address such as https://api.stripe.com, "
                            f"got {raw!r}")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise SettingsError(f"{name} has an invalid port: {raw!r}") from None
    return raw.rstrip("/")


def _prefixed(env: Mapping[str, str], name: str, prefixes: tuple[str, ...], what: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.startswith(prefixes) or len(raw) <= max(len(p) for p in prefixes):
        raise SettingsError(f"{name} must be {what} (starting with {' or '.join(prefixes)})")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    value = raw.strip().lower()  # type: ignore[union-attr]
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _redis_shards(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in (env.get("HUBWIRE_REDIS_SHARDS") or "").split(",") if u.strip())
    for url in urls:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"HUBWIRE_REDIS_SHARDS must list redis:// URLs, not {url!r}")
    if urls and not env.get("HUBWIRE_REDIS_URL"):
        raise SettingsError("HUBWIRE_REDIS_SHARDS needs HUBWIRE_REDIS_URL (presence and limits stay there)")
    return urls


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str
    secret_key: str = field(repr=False)
    public_url: str
    # Where ``hubwire serve`` listens unless --host/--port say otherwise; the default public URL
    # is built from them, so links name the port the server really answers on.
    host: str = "127.0.0.1"
    port: int = 8000
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "starttls"
    mail_from: str = "Hubwire <no-reply@localhost>"
    # Stripe (server/integrations/stripe.py): the secret key turns the ``stripe`` provider on, the
    # webhook secret the receiver (POST /api/v1/webhooks/stripe); the API base replaces
    # https://api.stripe.com (a proxy, or the tests' stand-in).
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    # How long a ``past_due`` subscription keeps its access after the renewal failed
    # (HUBWIRE_PAST_DUE_GRACE_SECONDS; domain/commerce/subscriptions.py).
    past_due_grace_seconds: int = 3 * 24 * 3600
    # Media (server/integrations/): local disk under data_dir/media unless a bucket is named, then
    # an S3-compatible store at the endpoint (None: AWS), with these credentials (None: the AWS
    # default chain).
    media_max_bytes: int = 100 * 1024 * 1024
    media_s3_bucket: str | None = None
    media_s3_endpoint_url: str | None = None
    media_s3_region: str | None = None
    media_s3_access_key_id: str | None = field(default=None, repr=False)
    media_s3_secret_access_key: str | None = field(default=None, repr=False)
    media_s3_prefix: str = ""
    log_level: str = "INFO"
    auto_migrate: bool = True
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # Seconds after a rotation during which the just-rotated refresh token answers with its
    # successor instead of revoking the session (two tabs refreshing at once); 0 turns it off.
    refresh_reuse_grace_seconds: int = 10
    password_hashing: str = "default"
    login_limit_per_email: int = 10  # failed attempts per email per window
    login_limit_per_ip: int = 30  # attempts per IP per window
    login_limit_window_seconds: int = 900
    trusted_proxies: tuple[str, ...] = ()
    # HUBWIRE_RT_* gateway limits (docs/realtime.md), checked to be numbers here and applied by
    # the realtime lifespan; and how often scheduled discussions are looked for, in seconds.
    realtime: dict[str, str] = field(default_factory=dict)
    # HUBWIRE_REDIS_SHARDS: Redis nodes the realtime channels are spread over (realtime/shards.py);
    # empty = every channel on HUBWIRE_REDIS_URL (or in-process without Redis)
    redis_shards: tuple[str, ...] = ()
    community_scheduler_interval: float = 60.0
    # Operations (docs/deploy.md#running-in-production): the token /metrics asks for (unset: 404),
    # the log format (auto: human-readable on a terminal, JSON lines otherwise), request body
    # limits by route kind, and the REST API's rate limits per API key / token and per IP.
    metrics_token: str | None = field(default=None, repr=False)
    log_format: str = "auto"
    max_json_body_bytes: int = 1_000_000
    max_upload_body_bytes: int = 100 * 1024 * 1024 + UPLOAD_ENVELOPE_BYTES
    rate_limit_per_key: int = 1200
    rate_limit_per_ip: int = 2400
    rate_limit_window_seconds: int = 60

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("HUBWIRE_DATA_DIR") or "./.hubwire").expanduser().resolve()
        database_url = env.get("HUBWIRE_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'hubwire.db'}"
        if database_url.startswith("postgres://") or database_url.startswith("postgresql://"):
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        if not (database_url.startswith("sqlite+aiosqlite://") or database_url.startswith("postgresql+asyncpg://")):
            raise SettingsError("HUBWIRE_DATABASE_URL must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        media_max_bytes = _int(env, "HUBWIRE_MEDIA_MAX_BYTES", 100 * 1024 * 1024)
        upload_floor = media_max_bytes + UPLOAD_ENVELOPE_BYTES
        smtp_tls = (env.get("HUBWIRE_SMTP_TLS") or "starttls").lower()
        if smtp_tls not in {"none", "starttls", "tls"}:
            raise SettingsError("HUBWIRE_SMTP_TLS must be none, starttls or tls")
        hashing = env.get("HUBWIRE_PASSWORD_HASHING") or "default"
        if hashing not in {"default", "fast"}:
            raise SettingsError("HUBWIRE_PASSWORD_HASHING must be default or fast")
        secret_key = env.get("HUBWIRE_SECRET_KEY") or _persisted_secret(data_dir)
        if len(secret_key) < 32:
            raise SettingsError("HUBWIRE_SECRET_KEY must be at least 32 characters")
        log_level = (env.get("HUBWIRE_LOG_LEVEL") or "INFO").upper()
        if log_level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise SettingsError("HUBWIRE_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        proxies = tuple(p.strip() for p in (env.get("HUBWIRE_TRUSTED_PROXIES") or "").split(",") if p.strip())
        log_format = (env.get("HUBWIRE_LOG_FORMAT") or "auto").strip().lower()
        if log_format not in {"auto", "json", "text"}:
            raise SettingsError("HUBWIRE_LOG_FORMAT must be auto, json or text")
        metrics_token = (env.get("HUBWIRE_METRICS_TOKEN") or "").strip() or None
        if metrics_token is not None and len(metrics_token) < 16:
            raise SettingsError("HUBWIRE_METRICS_TOKEN must be at least 16 characters")
        host = (env.get("HUBWIRE_HOST") or "127.0.0.1").strip()
        port = _int_between(env, "HUBWIRE_PORT", 8000, 0, 65535)
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("HUBWIRE_REDIS_URL") or None,
            redis_prefix=env.get("HUBWIRE_REDIS_PREFIX") or "hubwire:",
            redis_shards=_redis_shards(env),
            secret_key=secret_key,
            public_url=(env.get("HUBWIRE_PUBLIC_URL") or local_url(host, port)).rstrip("/"),
            host=host,
            port=port,
            smtp_host=env.get("HUBWIRE_SMTP_HOST") or None,
            smtp_port=_int(env, "HUBWIRE_SMTP_PORT", 587),
            smtp_username=env.get("HUBWIRE_SMTP_USERNAME") or None,
            smtp_password=env.get("HUBWIRE_SMTP_PASSWORD") or None,
            smtp_tls=smtp_tls,
            mail_from=env.get("HUBWIRE_MAIL_FROM") or "Hubwire <no-reply@localhost>",
            stripe_secret_key=_prefixed(env, "HUBWIRE_STRIPE_SECRET_KEY", ("sk_", "rk_"),
                                        "a Stripe secret or restricted key"),
            stripe_webhook_secret=_prefixed(env, "HUBWIRE_STRIPE_WEBHOOK_SECRET", ("whsec_",),
                                            "a Stripe webhook signing secret"),
            stripe_api_base=_service_url(env, "HUBWIRE_STRIPE_API_BASE"),
            past_due_grace_seconds=_int_between(env, "HUBWIRE_PAST_DUE_GRACE_SECONDS", 3 * 24 * 3600,
                                                0, 90 * 24 * 3600),
            media_max_bytes=media_max_bytes,
            media_s3_bucket=env.get("HUBWIRE_MEDIA_S3_BUCKET") or None,
            media_s3_endpoint_url=_service_url(env, "HUBWIRE_MEDIA_S3_ENDPOINT_URL"),
            media_s3_region=env.get("HUBWIRE_MEDIA_S3_REGION") or None,
            media_s3_access_key_id=env.get("HUBWIRE_MEDIA_S3_ACCESS_KEY_ID") or None,
            media_s3_secret_access_key=env.get("HUBWIRE_MEDIA_S3_SECRET_ACCESS_KEY") or None,
            media_s3_prefix=env.get("HUBWIRE_MEDIA_S3_PREFIX") or "",
            log_level=log_level,
            auto_migrate=_bool(env, "HUBWIRE_AUTO_MIGRATE", True),
            access_token_ttl_seconds=_int(env, "HUBWIRE_ACCESS_TOKEN_TTL", 900),
            refresh_token_ttl_seconds=_int(env, "HUBWIRE_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
            refresh_reuse_grace_seconds=_int_between(env, "HUBWIRE_REFRESH_REUSE_GRACE", 10,
                                                     0, MAX_REFRESH_REUSE_GRACE),
            password_hashing=hashing,
            login_limit_per_email=_int(env, "HUBWIRE_LOGIN_LIMIT_PER_EMAIL", 10),
            login_limit_per_ip=_int(env, "HUBWIRE_LOGIN_LIMIT_PER_IP", 30),
            login_limit_window_seconds=_int(env, "HUBWIRE_LOGIN_LIMIT_WINDOW", 900),
            trusted_proxies=proxies,
            realtime=_numbers(env, "HUBWIRE_RT_"),
            community_scheduler_interval=_positive_float(env, "HUBWIRE_COMMUNITY_SCHEDULER_INTERVAL", 60.0),
            metrics_token=metrics_token,
            log_format=log_format,
            max_json_body_bytes=_int_between(env, "HUBWIRE_MAX_JSON_BODY", 1_000_000, 1024, 1 << 30),
            max_upload_body_bytes=_int_between(env, "HUBWIRE_MAX_UPLOAD_BODY", upload_floor, upload_floor,
                                               max(upload_floor, 1 << 40)),
            rate_limit_per_key=_int_between(env, "HUBWIRE_RATE_LIMIT_PER_KEY", 1200, 0, 10**9),
            rate_limit_per_ip=_int_between(env, "HUBWIRE_RATE_LIMIT_PER_IP", 2400, 0, 10**9),
            rate_limit_window_seconds=_int_between(env, "HUBWIRE_RATE_LIMIT_WINDOW", 60, 1, 86400),
        )


def local_url(host: str, port: int) -> str:
    """``http://host:port`` for a listening address, as a browser on this machine reaches it: a
    wildcard address (``0.0.0.0``, ``::``, empty) becomes the loopback one, an IPv6 literal gets
    its brackets."""
    if host in {"", "0.0.0.0"}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _persisted_secret(data_dir: Path) -> str:
    """The embedded default's secret key: generated once, kept in the data dir (mode 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    # Write the whole key to a private temporary file, then link it into place: the name appears
    # only with a complete key in it, so a process racing us (``serve --workers N`` on a first
    # start) reads either nothing or the winner's whole key, never an empty, half-written file.
    tmp = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, key.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its key
            return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
