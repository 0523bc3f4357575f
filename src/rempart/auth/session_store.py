"""Where sessions live: a protocol, and its implementation on the database.

The store keeps only hashes of the session id and of the device token; it knows
nothing of timeouts or rules, which belong to `rempart.auth.sessions`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine, Row, bindparam, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.auth.models import LoginSession


class SessionLevel(StrEnum):
    # First factor only: enrolment or the second factor next.
    PASSWORD = "password"  # noqa: S105 (a level name)
    FULL = "full"  # second factor passed
    STEP_UP = "step_up"  # was full, the client changed: second factor again


@dataclass(frozen=True, slots=True)
class NewSession:
    token_hash: bytes
    account_id: int
    device_hash: bytes
    agent_hash: bytes
    network: str
    address: str
    label: str
    level: SessionLevel
    method: str | None
    created_at: dt.datetime
    authenticated_at: dt.datetime | None
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    account_id: int
    device_hash: bytes
    agent_hash: bytes
    network: str
    address: str
    label: str
    level: SessionLevel
    method: str | None
    created_at: dt.datetime
    authenticated_at: dt.datetime | None
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None


class SessionStore(Protocol):
    def create(self, new: NewSession) -> int: ...

    def by_token_hash(self, token_hash: bytes) -> SessionRecord | None: ...

    def by_id(self, session_id: int) -> SessionRecord | None: ...

    def touch(self, session_id: int, *, at: dt.datetime, address: str) -> None: ...

    def set_level(self, session_id: int, level: SessionLevel) -> None: ...

    def renew(self, session_id: int, *, token_hash: bytes, level: SessionLevel,
              method: str | None, authenticated_at: dt.datetime | None,
              expires_at: dt.datetime, agent_hash: bytes, network: str) -> bool:
        """Replace the id hash (old id stops working) and the level, if still active."""
        ...

    def end(self, session_id: int, *, at: dt.datetime, reason: str) -> bool: ...

    def end_all_for_account(self, account_id: int, *, at: dt.datetime, reason: str,
                            keep: int | None = None) -> list[int]: ...

    def active_for_account(self, account_id: int) -> list[SessionRecord]: ...


_TABLE = LoginSession.__table__
_BY_TOKEN_HASH = select(_TABLE).where(_TABLE.c.token_hash == bindparam("token_hash"))


def _record(row: LoginSession | Row[Any]) -> SessionRecord:
    return SessionRecord(
        id=row.id, account_id=row.account_id, device_hash=row.device_hash,
        agent_hash=row.agent_hash, network=row.network, address=row.address, label=row.label,
        level=SessionLevel(row.level), method=row.method, created_at=row.created_at,
        authenticated_at=row.authenticated_at, last_seen_at=row.last_seen_at,
        expires_at=row.expires_at, ended_at=row.ended_at, end_reason=row.end_reason,
    )


class DbSessionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, new: NewSession) -> int:
        row = LoginSession(
            token_hash=new.token_hash, account_id=new.account_id, device_hash=new.device_hash,
            agent_hash=new.agent_hash, network=new.network, address=new.address,
            label=new.label, level=new.level.value, method=new.method,
            created_at=new.created_at, authenticated_at=new.authenticated_at,
            last_seen_at=new.created_at, expires_at=new.expires_at,
        )
        with DbSession(self._engine) as db, db.begin():
            db.add(row)
            db.flush()
            return row.id

    def by_token_hash(self, token_hash: bytes) -> SessionRecord | None:
        # Read on every portal request: a Core SELECT, without the ORM's unit of work.
        with self._engine.connect() as conn:
            row = conn.execute(_BY_TOKEN_HASH, {"token_hash": token_hash}).one_or_none()
        return _record(row) if row is not None else None

    def by_id(self, session_id: int) -> SessionRecord | None:
        with DbSession(self._engine) as db:
            row = db.get(LoginSession, session_id)
            return _record(row) if row else None

    def touch(self, session_id: int, *, at: dt.datetime, address: str) -> None:
        with DbSession(self._engine) as db, db.begin():
            db.execute(update(LoginSession).where(LoginSession.id == session_id)
                       .values(last_seen_at=at, address=address))

    def set_level(self, session_id: int, level: SessionLevel) -> None:
        with DbSession(self._engine) as db, db.begin():
            db.execute(update(LoginSession).where(LoginSession.id == session_id)
                       .values(level=level.value))

    def renew(self, session_id: int, *, token_hash: bytes, level: SessionLevel,
              method: str | None, authenticated_at: dt.datetime | None,
              expires_at: dt.datetime, agent_hash: bytes, network: str) -> bool:
        with DbSession(self._engine) as db, db.begin():
            result = db.execute(
                update(LoginSession)
                .where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
                .values(token_hash=token_hash, level=level.value, method=method,
                        authenticated_at=authenticated_at, expires_at=expires_at,
                        agent_hash=agent_hash, network=network)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def end(self, session_id: int, *, at: dt.datetime, reason: str) -> bool:
        with DbSession(self._engine) as db, db.begin():
            result = db.execute(
                update(LoginSession)
                .where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
                .values(ended_at=at, end_reason=reason)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def end_all_for_account(self, account_id: int, *, at: dt.datetime, reason: str,
                            keep: int | None = None) -> list[int]:
        with DbSession(self._engine) as db, db.begin():
            query = select(LoginSession.id).where(LoginSession.account_id == account_id,
                                                  LoginSession.ended_at.is_(None))
            if keep is not None:
                query = query.where(LoginSession.id != keep)
            ids = list(db.scalars(query))
            if ids:
                db.execute(update(LoginSession).where(LoginSession.id.in_(ids))
                           .values(ended_at=at, end_reason=reason))
            return ids

    def active_for_account(self, account_id: int) -> list[SessionRecord]:
        with DbSession(self._engine) as db:
            rows = db.scalars(
                select(LoginSession)
                .where(LoginSession.account_id == account_id, LoginSession.ended_at.is_(None))
                .order_by(LoginSession.last_seen_at.desc())
            )
            return [_record(r) for r in rows]
