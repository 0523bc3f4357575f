"""Settings: the one place where backends and paths are chosen.

Read from the environment (REMPART_*) with explicit overrides from the CLI. The
embedded default is a data directory holding a SQLite database and a key file; a
PostgreSQL URL moves storage to a server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rempart.auth.config import AuthSettings
from rempart.core.errors import ConfigurationError
from rempart.guard.config import GuardSettings

DEFAULT_DATA_DIR = Path("rempart-data")
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# A worker's PostgreSQL connections (rempart.storage.connection_budget): the engine's pool
# (SQLAlchemy's own defaults) and the worker threads that may each keep one per owner.
DEFAULT_DB_POOL_SIZE = 5
DEFAULT_DB_POOL_OVERFLOW = 10
DEFAULT_DB_THREADS = 8


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    key_file: Path
    auth: AuthSettings = field(default_factory=AuthSettings)
    # The exfiltration guard (docs/guard.md): its state backend and options.
    guard: GuardSettings = field(default_factory=GuardSettings)
    # On in every served instance. Only an explicit override turns it off: the drill's
    # --baseline (to show what it saves) and the benchmark's guard-off comparison.
    guard_enabled: bool = True
    # Requests with a larger body are refused with 413 before they are read.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Only an explicit override turns this on: it enables the demo identity header.
    demo_mode: bool = False
    # Portal cookies carry Secure and the __Host- prefix. Only a plain-HTTP loopback
    # instance (the demo, tests) turns this off; see docs/portal.md.
    cookie_secure: bool = True
    # Only an explicit override turns this on: it adds the benchmark's bare look-up
    # endpoint, which answers whether rows match (an oracle, for measurements only).
    bench_endpoints: bool = False
    # Checkpoint signing key, kept out of the database; None means <data_dir>/audit-signing.key.
    audit_signing_key_file: Path | None = None
    # Where alerts go as OCSF Detection Findings (rempart.alerts.webhook); None: nowhere,
    # they wait in the outbox. Checked when the app starts: a malformed URL is refused.
    alert_webhook_url: str | None = None
    # Shared with the receiver: each webhook request is signed with it (HMAC-SHA256).
    alert_webhook_secret: str | None = field(default=None, repr=False)
    # Peers (CIDRs) whose X-Forwarded-For is believed: the reverse proxies in front of the
    # workers. Empty: the header is ignored and the peer's own address is the client's.
    trusted_proxies: tuple[str, ...] = ()
    # The header in which those proxies give the client's autonomous system (e.g.
    # X-Rempart-ASN, from nginx's GeoIP2 module: deploy/nginx.conf); None: unknown, and
    # the guard's per-AS limits and binding do nothing (docs/guard.md).
    network_header: str | None = None
    # Addresses (CIDRs) that may read /metrics; empty: anyone who reaches the server.
    metrics_allow: tuple[str, ...] = ()
    # Log lines: "json" (one JSON object a line, for a log pipeline) or "console" (demo).
    log_format: str = "json"
    # Application workers the deployment runs (for `rempart doctor`: shared state needed).
    workers: int = 1
    # On PostgreSQL: the engine's pool (kept, and opened beyond while busy), and the
    # size of each pool of worker threads (the loop's executor, anyio's): both bound the
    # connections a worker may open (rempart.storage.connection_budget, `rempart doctor`).
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_pool_overflow: int = DEFAULT_DB_POOL_OVERFLOW
    db_threads: int = DEFAULT_DB_THREADS

    @classmethod
    def load(cls, *, data_dir: Path | None = None, **overrides: Any) -> Settings:
        env = os.environ
        directory = data_dir or Path(env.get("REMPART_DATA_DIR", str(DEFAULT_DATA_DIR)))
        url = env.get("REMPART_DATABASE_URL") or f"sqlite:///{directory / 'rempart.db'}"
        key_file = Path(env.get("REMPART_KEY_FILE", str(directory / "keyring.json")))
        settings = cls(data_dir=directory, database_url=normalise_database_url(url),
                       key_file=key_file, auth=AuthSettings.from_env(env),
                       cookie_secure=env.get("REMPART_COOKIE_SECURE", "1") not in ("0", "false"),
                       alert_webhook_url=env.get("REMPART_ALERT_WEBHOOK_URL") or None,
                       alert_webhook_secret=env.get("REMPART_ALERT_WEBHOOK_SECRET") or None,
                       trusted_proxies=_listed(env.get("REMPART_TRUSTED_PROXIES")),
                       network_header=_header(env.get("REMPART_NETWORK_HEADER")),
                       metrics_allow=_listed(env.get("REMPART_METRICS_ALLOW")),
                       log_format=env.get("REMPART_LOG_FORMAT", "json"),
                       workers=_count("REMPART_WORKERS", env.get("REMPART_WORKERS"), 1),
                       db_pool_size=_count("REMPART_DB_POOL_SIZE",
                                           env.get("REMPART_DB_POOL_SIZE"), DEFAULT_DB_POOL_SIZE),
                       db_pool_overflow=_count("REMPART_DB_POOL_OVERFLOW",
                                               env.get("REMPART_DB_POOL_OVERFLOW"),
                                               DEFAULT_DB_POOL_OVERFLOW, least=0),
                       db_threads=_count("REMPART_DB_THREADS", env.get("REMPART_DB_THREADS"),
                                         DEFAULT_DB_THREADS),
                       guard=GuardSettings.from_env(env))
        return replace(settings, **overrides) if overrides else settings

    @property
    def audit_signing_key(self) -> Path:
        explicit = self.audit_signing_key_file or os.environ.get("REMPART_AUDIT_SIGNING_KEY_FILE")
        return Path(explicit) if explicit else self.data_dir / "audit-signing.key"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _header(raw: str | None) -> str | None:
    """A header's name (RFC 9110 token characters, at most 64), refused otherwise."""
    name = (raw or "").strip()
    if not name:
        return None
    if len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")
                                 for c in name):
        raise ConfigurationError("REMPART_NETWORK_HEADER must be a header name")
    return name.lower()


def _listed(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (raw or "").split(",") if item.strip())


def _count(name: str, raw: str | None, default: int, *, least: int = 1) -> int:
    """A count from the environment (at least `least`); a wrong value is named, never
    guessed."""
    if raw is None or not raw.strip():
        return default
    try:
        count = int(raw)
    except ValueError:
        count = least - 1
    if count < least:
        what = "a positive integer" if least == 1 else f"an integer of at least {least}"
        raise ConfigurationError(f"{name} must be {what}, not {raw!r}")
    return count


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
