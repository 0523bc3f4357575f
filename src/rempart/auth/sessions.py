"""Sessions: issue, check on every request, renew, list and end.

A session id is 256 random bits, stored hashed, and renewed (a new id, the old one
dead) whenever the session's privilege changes: at login, when the second factor
passes, at step-up. Each session is bound to the device token of the browser that
logged in: presented with another device token (a cookie copied to another browser)
it is refused and ended. A change of user agent or network makes it ask for the
second factor again. Idle and absolute timeouts come from `AuthSettings`.

Both timeouts are read on the wall clock. Set forward, sessions expire early (their
users log in again); set back, a session would live the jump longer, so a session
whose start or last request lies ahead of the clock beyond a tolerance is ended
(`rempart.auth.clock_skew`, docs/auth.md "Clock jumps").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, replace

from rempart.auth import clock_skew
from rempart.auth.accounts import AccountService, AccountView
from rempart.auth.client import MAX_TOKEN_LENGTH, ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidInput, NotPermitted, SessionInvalid
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.roles import AccountStatus, Actor, can_manage_account
from rempart.auth.session_store import NewSession, SessionLevel, SessionRecord, SessionStore
from rempart.auth.tokens import new_token, token_hash
from rempart.clock import Clock

# Writing last-seen on every request would make each read a write; a minute is
# precise enough for a 30-minute idle timeout.
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SessionView:
    id: int
    account: AccountView
    level: SessionLevel
    method: str | None
    created_at: dt.datetime
    authenticated_at: dt.datetime | None
    last_seen_at: dt.datetime
    idle_expires_at: dt.datetime
    expires_at: dt.datetime
    label: str
    address: str

    @property
    def is_full(self) -> bool:
        return self.level is SessionLevel.FULL


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new or renewed session: the values the edge sets as cookies, shown once."""

    token: str
    device_token: str
    csrf_token: str
    view: SessionView


def well_formed(token: str | None) -> bool:
    return bool(token) and len(token or "") <= MAX_TOKEN_LENGTH


def _device_token(client: ClientInfo) -> str:
    """The device token a session is bound to; refused before anything is written."""
    if client.device_token is None or not well_formed(client.device_token):
        raise SessionInvalid("a session needs the client's device token")
    return client.device_token


class SessionService:
    def __init__(self, *, store: SessionStore, accounts: AccountService,
                 settings: AuthSettings, clock: Clock, events: SecurityEventSink) -> None:
        self._store = store
        self._accounts = accounts
        self._settings = settings
        self._clock = clock
        self._events = events
        self._idle = dt.timedelta(seconds=settings.session_idle_seconds)

    # -- issuing ---------------------------------------------------------------

    def start(self, *, account: AccountView, client: ClientInfo, level: SessionLevel,
              method: str | None) -> IssuedSession:
        """A new session, bound to the client's device token (the login gives the
        client one first if it had none: `ClientInfo.with_device_token`)."""
        now = self._clock.now()
        device_token = _device_token(client)
        token = new_token()
        session_id = self._store.create(NewSession(
            token_hash=token_hash(token), account_id=account.id,
            device_hash=token_hash(device_token), agent_hash=client.agent_hash,
            network=client.network, address=client.address, label=client.label, level=level,
            method=method, created_at=now,
            authenticated_at=now if level is SessionLevel.FULL else None,
            expires_at=self._expiry(now, level),
        ))
        return self._issued(session_id, account, token, device_token)

    def renew(self, *, session: SessionView, client: ClientInfo, level: SessionLevel,
              method: str | None) -> IssuedSession:
        """New id for a session whose privilege changes; the old id stops working."""
        device_token = _device_token(client)
        now = self._clock.now()
        token = new_token()
        expires = self._expiry(session.created_at, level)
        if not self._store.renew(session.id, token_hash=token_hash(token), level=level,
                                 method=method,
                                 authenticated_at=now if level is SessionLevel.FULL else None,
                                 expires_at=expires, agent_hash=client.agent_hash,
                                 network=client.network):
            raise SessionInvalid("ended")
        return self._issued(session.id, session.account, token, device_token)

    def _expiry(self, created_at: dt.datetime, level: SessionLevel) -> dt.datetime:
        seconds = (self._settings.pending_login_seconds if level is SessionLevel.PASSWORD
                   else self._settings.session_absolute_seconds)
        return created_at + dt.timedelta(seconds=seconds)

    def _issued(self, session_id: int, account: AccountView, token: str,
                device_token: str) -> IssuedSession:
        record = self._store.by_id(session_id)
        if record is None:
            raise SessionInvalid("ended")
        return IssuedSession(token=token, device_token=device_token,
                             csrf_token=self.csrf_token(token),
                             view=self._view(record, account))

    # -- checking --------------------------------------------------------------

    def authenticate(self, *, token: str, client: ClientInfo) -> SessionView:
        """The session behind a cookie, or SessionInvalid. A changed client gets STEP_UP."""
        if not well_formed(token):
            raise SessionInvalid("unknown")
        record = self._store.by_token_hash(token_hash(token))
        if record is None:
            raise SessionInvalid("unknown")
        if record.ended_at is not None:
            raise SessionInvalid("ended")
        now = self._clock.now()
        if now >= record.expires_at:
            self._end(record, "absolute_timeout", client)
            raise SessionInvalid("expired")
        if now >= record.last_seen_at + self._idle:
            self._end(record, "idle_timeout", client)
            raise SessionInvalid("expired")
        if _from_the_future(record, now):
            # Written before the clock went back: its deadlines would be the jump late.
            clock_skew.refused("session", at=_latest(record), now=now)
            self._end(record, "clock_skew", client)
            raise SessionInvalid("expired")
        presented = client.device_token if well_formed(client.device_token) else ""
        if not hmac.compare_digest(token_hash(presented or ""), record.device_hash):
            self._end(record, "client_mismatch", client)
            self._emit(EventKind.SESSION_REFUSED, record, client, "client_mismatch")
            raise SessionInvalid("presented by another client")
        account = self._accounts.get(record.account_id)
        if account.status is not AccountStatus.ACTIVE:
            self._end(record, "suspended", client)
            raise SessionInvalid("account suspended")
        level = record.level
        if level is SessionLevel.FULL and (record.agent_hash != client.agent_hash
                                           or record.network != client.network):
            level = SessionLevel.STEP_UP
            self._store.set_level(record.id, level)
            reason = "agent_changed" if record.agent_hash != client.agent_hash else (
                "network_changed")
            self._emit(EventKind.STEP_UP_REQUIRED, record, client, reason)
        last_seen = record.last_seen_at
        if now - last_seen >= TOUCH_EVERY or client.address != record.address:
            self._store.touch(record.id, at=now, address=client.address)
            last_seen = now
        view = self._view(record, account)
        return replace(view, level=level, last_seen_at=last_seen,
                       idle_expires_at=last_seen + self._idle, address=client.address)

    # -- CSRF: a token derived from the session id, so nothing more is stored ------

    def csrf_token(self, token: str) -> str:
        mac = hmac.digest(token.encode("utf-8"), b"rempart/csrf", hashlib.sha256)
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def check_csrf(self, *, token: str, presented: str | None) -> None:
        if not presented or len(presented) > MAX_TOKEN_LENGTH or not hmac.compare_digest(
                self.csrf_token(token).encode(), presented.encode("utf-8", "replace")):
            raise InvalidInput("csrf_token", "missing or not valid for this session")

    # -- listing and ending ------------------------------------------------------

    def list_for_account(self, account_id: int) -> list[SessionView]:
        now = self._clock.now()
        account = self._accounts.get(account_id)
        return [self._view(r, account) for r in self._store.active_for_account(account_id)
                if now < r.expires_at and now < r.last_seen_at + self._idle
                and not _from_the_future(r, now)]

    def logout(self, *, token: str, client: ClientInfo) -> None:
        record = self._store.by_token_hash(token_hash(token)) if well_formed(token) else None
        if record is not None and record.ended_at is None:
            self._end(record, "logout", client)

    def end_own(self, *, session: SessionView, session_id: int, client: ClientInfo) -> None:
        """A user ends one of their own sessions (this one or another)."""
        record = self._store.by_id(session_id)
        if record is None or record.account_id != session.account.id:
            raise NotPermitted("end this session")
        self._end(record, "ended_by_user", client)

    def end_as_admin(self, *, actor: Actor, session_id: int, client: ClientInfo) -> None:
        record = self._store.by_id(session_id)
        if record is None:
            raise NotPermitted("end this session")
        target = self._accounts.get(record.account_id)
        if not can_manage_account(actor, role=target.role,
                                  organisation_id=target.organisation_id):
            raise NotPermitted("end this session")
        # The event names who ended it: the audit log answers "which admin, when".
        self._end(record, "ended_by_admin", client, by=actor.account_id)

    def end_all(self, *, account_id: int, reason: str, keep: int | None = None) -> list[int]:
        now = self._clock.now()
        ended = self._store.end_all_for_account(account_id, at=now, reason=reason, keep=keep)
        for session_id in ended:
            self._events.emit(SecurityEvent(EventKind.SESSION_ENDED, now, account_id=account_id,
                                            session_id=session_id, reason=reason))
        return ended

    def _end(self, record: SessionRecord, reason: str, client: ClientInfo,
             by: int | None = None) -> None:
        if self._store.end(record.id, at=self._clock.now(), reason=reason):
            self._emit(EventKind.SESSION_ENDED, record, client, reason, by=by)

    def _emit(self, kind: EventKind, record: SessionRecord, client: ClientInfo,
              reason: str, by: int | None = None) -> None:
        details = {} if by is None else {"by_account": str(by)}
        self._events.emit(SecurityEvent(kind, self._clock.now(), account_id=record.account_id,
                                        session_id=record.id, address=client.address,
                                        reason=reason, details=details))

    def _view(self, record: SessionRecord, account: AccountView) -> SessionView:
        return SessionView(
            id=record.id, account=account, level=record.level, method=record.method,
            created_at=record.created_at, authenticated_at=record.authenticated_at,
            last_seen_at=record.last_seen_at, idle_expires_at=record.last_seen_at + self._idle,
            expires_at=record.expires_at, label=record.label, address=record.address,
        )


def _latest(record: SessionRecord) -> dt.datetime:
    return max(t for t in (record.created_at, record.authenticated_at, record.last_seen_at)
               if t is not None)


def _from_the_future(record: SessionRecord, now: dt.datetime) -> bool:
    """Started, authenticated or last seen beyond the tolerance after `now`."""
    return clock_skew.ahead(_latest(record), now)
