"""The replay cache in the database: each key (a DPoP proof's key and jti, a member
link's nonce) is accepted once while its token is fresh.

DPoP proofs use it only where neither Redis nor a single process can hold their replay
entries (rempart.auth.replay_stores chooses); member links always, since a link lives
for hours and must stay single-use across restarts.

Kept in the database, so every worker process shares it; a primary-key insert that
fails means the pair was seen. Entries older than the proof window are purged as new
ones arrive, which keeps the table to a few minutes of traffic.

The insert is made on every API request, so it runs on a driver connection that each
thread keeps (the SQL compiled once by SQLAlchemy for the dialect, values bound with
its own bind processors): through a pooled SQLAlchemy connection the same one-row
insert cost about as much CPU as the rest of the DPoP check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, cast

from sqlalchemy import Engine, bindparam, delete, insert

from rempart.auth.models import DpopProofReplay
from rempart.clock import Clock
from rempart.storage.driver_sql import DriverStatement
from rempart.storage.thread_connections import ThreadConnections

PURGE_EVERY = 256
_INSERT = insert(DpopProofReplay).values(key_hash=bindparam("key_hash"),
                                         expires_at=bindparam("expires_at"))
_PURGE = delete(DpopProofReplay).where(DpopProofReplay.expires_at < bindparam("now"))


class ReplayCache(Protocol):
    def first_use(self, key: bytes, *, expires_at: dt.datetime) -> bool:
        """Record `key`; False if it was already recorded and has not expired."""
        ...


class ProofReplayCache(Protocol):
    """A DPoP proof's replay store: also told when the proof was made (`issued_at`), so a
    store that forgets on restart can refuse proofs older than itself. `in_process`: its
    entries are in this process's memory, so recording one is never I/O."""

    @property
    def in_process(self) -> bool: ...

    def first_use(self, key: bytes, *, issued_at: dt.datetime,
                  expires_at: dt.datetime) -> bool:
        """Record `key`; False if it was already recorded (or cannot be vouched for)."""
        ...


class _ConnectionLost(Exception):
    """The thread's connection was found closed by the server."""


class DbReplayCache:
    in_process = False

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._inserts = 0
        self._insert = DriverStatement(_INSERT, engine.dialect)
        self._purge = DriverStatement(_PURGE, engine.dialect)
        dbapi = engine.dialect.loaded_dbapi
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        self._dbapi_error: type[Exception] = dbapi.Error
        self._connections = ThreadConnections(engine)

    def first_use(self, key: bytes, *, expires_at: dt.datetime,
                  issued_at: dt.datetime | None = None) -> bool:
        """`issued_at` is not needed: the table outlives the process."""
        del issued_at
        now = self._clock.now()
        self._inserts += 1
        purge = self._inserts % PURGE_EVERY == 0
        try:
            return self._write(key, expires_at, purge=purge, now=now)
        except _ConnectionLost:
            # The server dropped the thread's connection (restarted, say): once more, on
            # a new one.
            return self._write(key, expires_at, purge=purge, now=now)

    def _write(self, key: bytes, expires_at: dt.datetime, *, purge: bool,
               now: dt.datetime) -> bool:
        connection = self._connections.get()
        cursor = connection.cursor()
        try:
            if purge:
                cursor.execute(self._purge.sql, self._purge.bind({"now": now}))
            cursor.execute(self._insert.sql,
                           self._insert.bind({"key_hash": key, "expires_at": expires_at}))
            connection.commit()
        except self._integrity_error:
            connection.rollback()
            # Seen before. Even if that entry is stale, a client must never reuse a jti.
            return False
        except Exception as exc:
            lost = isinstance(exc, self._dbapi_error) and self._engine.dialect.is_disconnect(
                cast(Any, exc), connection, None)
            self._connections.discard()  # whatever state the connection is in, do not reuse it
            if lost:
                raise _ConnectionLost from exc
            raise
        finally:
            cursor.close()
        return True
