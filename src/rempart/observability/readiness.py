"""Readiness: can this worker serve? Each component answers "ok" or a fixed reason.

- database: a `SELECT 1` through the app's engine;
- redis: a PING to each Redis the settings name (login throttling, guard state, DPoP
  replays); a worker that cannot reach its shared state must not take traffic, since
  disclosure fails closed without it;
- vault: the data keys seal and open a probe value (loaded and usable);
- audit_signing_key: the checkpoint signing key loads (present, owner-only, Ed25519).

Reasons are fixed words and exception type names: never a URL, a path, a key or a
message (which can carry a password from a URL).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import redis
from sqlalchemy import Engine, text

from rempart.audit.errors import SigningKeyError
from rempart.audit.signing import SigningKey
from rempart.guard.config import REDIS_SCHEMES
from rempart.runtime import Runtime
from rempart.vault import Vault

OK = "ok"
TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    components: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(state == OK for state in self.components.values())

    @property
    def failing(self) -> list[str]:
        return sorted(name for name, state in self.components.items() if state != OK)


def redis_uris(runtime: Runtime) -> list[str]:
    """Every Redis the deployment uses, from the settings (deduplicated, in order)."""
    auth = runtime.settings.auth
    named = [auth.throttle_storage, runtime.settings.guard.storage_uri, auth.replay_storage]
    return list(dict.fromkeys(uri for uri in named if uri.startswith(REDIS_SCHEMES)))


class ReadinessProbe:
    """Runs every component's check; built once per app (Redis clients are kept)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._redis = [redis.Redis.from_url(uri, socket_connect_timeout=TIMEOUT_S / 4,
                                            socket_timeout=TIMEOUT_S / 4)
                       for uri in redis_uris(runtime)]

    def check(self) -> Readiness:
        checks: dict[str, Callable[[], None]] = {
            "database": lambda: _database(self._runtime.engine),
            "vault": lambda: _vault(self._runtime.vault),
            "audit_signing_key": lambda: _signing_key(self._runtime),
        }
        if self._redis:
            checks["redis"] = self._ping_redis
        return Readiness({name: _state(check) for name, check in checks.items()})

    def _ping_redis(self) -> None:
        for client in self._redis:
            client.ping()

    def close(self) -> None:
        for client in self._redis:
            client.close()


def _state(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # a readiness answer names the failure, whatever it is
        return f"failed: {type(exc).__name__}"
    return OK


def _database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


def _vault(vault: Vault) -> None:
    probe = secrets.token_hex(8)
    token = secrets.token_bytes(16)
    sealed = vault.seal([probe], kind=b"readiness", row_token=token)
    if vault.open(sealed, version=vault.current_version, kind=b"readiness",
                  row_token=token) != [probe]:
        raise VaultProbeMismatch


def _signing_key(runtime: Runtime) -> None:
    try:
        SigningKey.load(runtime.settings.audit_signing_key)
    except SigningKeyError:
        raise AuditSigningKeyUnavailable from None


class VaultProbeMismatch(Exception):
    """The vault opened a probe to something else than what it sealed."""


class AuditSigningKeyUnavailable(Exception):
    """The audit signing key is missing, unreadable, too open or not an Ed25519 key."""
