"""Member sessions: the few minutes between a verified link and the person closing the page.

The cookie holds 256 random bits; the table holds their SHA-256 only, so a copy of the
database opens no session. A session lasts 15 minutes from the link, whatever happens,
and carries a CSRF token for the report form (the cookie is also SameSite=Lax).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from rempart.clock import Clock
from rempart.member.errors import MemberSessionExpired
from rempart.member.models import MemberSession

SESSION_SECONDS = 15 * 60
MAX_COOKIE_CHARS = 100


@dataclass(frozen=True, slots=True)
class OpenedSession:
    cookie: str
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MemberSessionView:
    person_id: int
    insurer_amc: str
    csrf_token: str
    expires_at: dt.datetime


def _digest(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode("ascii", "replace")).digest()


class MemberSessions:
    def __init__(self, *, engine: Engine, clock: Clock,
                 lifetime_s: int = SESSION_SECONDS) -> None:
        self._engine = engine
        self._clock = clock
        self._lifetime = dt.timedelta(seconds=lifetime_s)

    def open(self, *, person_id: int, insurer_amc: str) -> OpenedSession:
        now = self._clock.now()
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + self._lifetime
        with self._engine.begin() as conn:
            conn.execute(delete(MemberSession).where(MemberSession.expires_at <= now))
            conn.execute(insert(MemberSession).values(
                token_hash=_digest(cookie), person_id=person_id, insurer_amc=insurer_amc,
                csrf_token=csrf, created_at=now, expires_at=expires))
        return OpenedSession(cookie=cookie, csrf_token=csrf, expires_at=expires)

    def resolve(self, cookie: str | None) -> MemberSessionView:
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            raise MemberSessionExpired("no member session")
        with self._engine.connect() as conn:
            row = conn.execute(select(MemberSession.person_id, MemberSession.insurer_amc,
                                      MemberSession.csrf_token, MemberSession.expires_at)
                               .where(MemberSession.token_hash == _digest(cookie))).one_or_none()
        if row is None or row[3] <= self._clock.now():
            raise MemberSessionExpired("the member session has expired")
        return MemberSessionView(person_id=row[0], insurer_amc=row[1], csrf_token=row[2],
                                 expires_at=row[3])

    def end(self, cookie: str | None) -> None:
        if cookie and len(cookie) <= MAX_COOKIE_CHARS:
            with self._engine.begin() as conn:
                conn.execute(delete(MemberSession).where(
                    MemberSession.token_hash == _digest(cookie)))
