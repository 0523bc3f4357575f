"""The DPoP replay cache: each (key, jti) pair is accepted once while its proof is fresh.

Kept in the database, so every worker process shares it; a primary-key insert that
fails means the pair was seen. Entries older than the proof window are purged as new
ones arrive, which keeps the table to a few minutes of traffic.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import Engine, bindparam, delete, insert
from sqlalchemy.exc import IntegrityError

from rempart.auth.models import DpopProofReplay
from rempart.clock import Clock

PURGE_EVERY = 256
_INSERT = insert(DpopProofReplay)
_PURGE = delete(DpopProofReplay).where(DpopProofReplay.expires_at < bindparam("now"))


class ReplayCache(Protocol):
    def first_use(self, key: bytes, *, expires_at: dt.datetime) -> bool:
        """Record `key`; False if it was already recorded and has not expired."""
        ...


class DbReplayCache:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._inserts = 0

    def first_use(self, key: bytes, *, expires_at: dt.datetime) -> bool:
        now = self._clock.now()
        self._inserts += 1
        try:
            # One Core INSERT per API request (the ORM's flush cost more than the write).
            with self._engine.begin() as conn:
                if self._inserts % PURGE_EVERY == 0:
                    conn.execute(_PURGE, {"now": now})
                conn.execute(_INSERT, {"key_hash": key, "expires_at": expires_at})
        except IntegrityError:
            # Seen before. Even if that entry is stale, a client must never reuse a jti.
            return False
        return True
