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
from rempart.guard.config import GuardSettings

DEFAULT_DATA_DIR = Path("rempart-data")
DEFAULT_MAX_BODY_BYTES = 64 * 1024


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

    @classmethod
    def load(cls, *, data_dir: Path | None = None, **overrides: Any) -> Settings:
        env = os.environ
        directory = data_dir or Path(env.get("REMPART_DATA_DIR", str(DEFAULT_DATA_DIR)))
        url = env.get("REMPART_DATABASE_URL") or f"sqlite:///{directory / 'rempart.db'}"
        key_file = Path(env.get("REMPART_KEY_FILE", str(directory / "keyring.json")))
        settings = cls(data_dir=directory, database_url=normalise_database_url(url),
                       key_file=key_file, auth=AuthSettings.from_env(env),
                       guard=GuardSettings.from_env(env),
                       cookie_secure=env.get("REMPART_COOKIE_SECURE", "1") not in ("0", "false"))
        return replace(settings, **overrides) if overrides else settings

    @property
    def audit_signing_key(self) -> Path:
        explicit = self.audit_signing_key_file or os.environ.get("REMPART_AUDIT_SIGNING_KEY_FILE")
        return Path(explicit) if explicit else self.data_dir / "audit-signing.key"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
