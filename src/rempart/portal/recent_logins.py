"""The account's recent logins, for its security page: when, from which browser and
address, with which factor. Read from the sessions table (a session is a login)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select

from rempart.auth.models import LoginSession

RECENT = 10


@dataclass(frozen=True, slots=True)
class RecentLogin:
    at: dt.datetime
    label: str
    address: str
    method: str | None
    ended: bool


def recent_logins(engine: Engine, account_id: int, *, limit: int = RECENT) -> list[RecentLogin]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LoginSession.created_at, LoginSession.label, LoginSession.address,
                   LoginSession.method, LoginSession.ended_at)
            .where(LoginSession.account_id == account_id,
                   LoginSession.authenticated_at.is_not(None))
            .order_by(LoginSession.created_at.desc()).limit(limit)).all()
    return [RecentLogin(at=_utc(r[0]), label=r[1], address=r[2], method=r[3],
                        ended=r[4] is not None) for r in rows]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
