"""Logging in: with a password (then a second factor), or with a passkey alone.

A password opens only a PASSWORD-level session, good for passing or enrolling a
second factor and nothing else. An unknown login and a wrong password get the same
answer after the same work (a dummy Argon2 verification); throttling is keyed by the
login typed, so it behaves the same for both. A passkey with user verification is
two factors in itself (possession and PIN or biometrics) and opens a FULL session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.auth.access import PASSKEY
from rempart.auth.accounts import AccountService, view_of
from rempart.auth.client import ClientInfo
from rempart.auth.devices import KnownDevices
from rempart.auth.errors import (
    AccountSuspended,
    InvalidCredentials,
    InvalidInput,
    InvalidSecondFactor,
    LoginThrottled,
)
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.models import Account
from rempart.auth.passkeys import Ceremony, PasskeyService
from rempart.auth.passwords import PasswordHasher
from rempart.auth.roles import AccountStatus
from rempart.auth.second_factor import SecondFactorService, device_key
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import IssuedSession, SessionService
from rempart.auth.throttle import Attempt, LoginThrottle
from rempart.auth.tokens import login_candidates, login_index
from rempart.clock import Clock
from rempart.vault import Vault

MAX_LOGIN = 254


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    """A PASSWORD-level session and what comes next: a second factor, or enrolment."""

    session: IssuedSession
    methods: list[str]

    @property
    def must_enrol(self) -> bool:
        return not self.methods


class LoginService:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock, hasher: PasswordHasher,
                 max_password_length: int, throttle: LoginThrottle, sessions: SessionService,
                 accounts: AccountService, devices: KnownDevices, passkeys: PasskeyService,
                 second_factor: SecondFactorService, events: SecurityEventSink) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._hasher = hasher
        self._max_password = max_password_length
        self._throttle = throttle
        self._sessions = sessions
        self._accounts = accounts
        self._devices = devices
        self._passkeys = passkeys
        self._second_factor = second_factor
        self._events = events

    def password_login(self, *, login: str, password: str, client: ClientInfo,
                       previous_token: str | None = None) -> PasswordLogin:
        if not login.strip() or len(login) > MAX_LOGIN:
            raise InvalidInput("login", f"1 to {MAX_LOGIN} characters")
        if len(password) > self._max_password:
            raise InvalidInput("password", f"at most {self._max_password} characters")
        client = client.with_device_token()
        with DbSession(self._engine) as db:
            row = db.scalar(select(Account).where(
                Account.login_idx.in_(login_candidates(self._vault, login))))
            account = view_of(row) if row is not None else None
            stored_hash = row.password_hash if row is not None else None
        known = self._devices.find(account_id=account.id if account else None,
                                   device_token=client.device_token)
        attempt = Attempt(login_key=login_index(self._vault, login).hex(),
                          address=client.address,
                          known_device=device_key(client.device_token) if known else None)
        wait = self._throttle.retry_after(attempt)
        if wait > 0:
            self._emit(EventKind.LOGIN_THROTTLED, client, reason="password",
                       account_id=account.id if account else None)
            raise LoginThrottled(wait)
        verification = self._hasher.verify(stored_hash, password)
        if account is None or not verification.ok:
            self._throttle.failed(attempt)
            self._emit(EventKind.LOGIN_FAILED, client, account_id=account.id if account else None,
                       reason="unknown_login" if account is None else "wrong_password")
            raise InvalidCredentials
        if verification.new_hash is not None:
            self._store_rehash(account.id, stored_hash, verification.new_hash)
        if account.status is not AccountStatus.ACTIVE:
            self._emit(EventKind.LOGIN_FAILED, client, account_id=account.id,
                       reason="suspended")
            raise AccountSuspended
        if previous_token:
            self._sessions.logout(token=previous_token, client=client)
        session = self._sessions.start(account=account, client=client,
                                       level=SessionLevel.PASSWORD, method=None)
        self._emit(EventKind.PASSWORD_ACCEPTED, client, account_id=account.id,
                   organisation_id=account.organisation_id, session_id=session.view.id)
        return PasswordLogin(session=session, methods=self._second_factor.methods(account.id))

    def begin_passkey_login(self) -> Ceremony:
        """Options for a username-less passkey login (a discoverable credential)."""
        return self._passkeys.begin_authentication(account_id=None)

    def finish_passkey_login(self, *, ceremony_id: str, credential: str | dict[str, Any],
                             client: ClientInfo,
                             previous_token: str | None = None) -> IssuedSession:
        client = client.with_device_token()
        # Keyed by address only: a global key would let anyone delay every passkey login.
        attempt = Attempt(login_key=f"passkey:{client.address}", address=client.address)
        wait = self._throttle.retry_after(attempt)
        if wait > 0:
            self._emit(EventKind.LOGIN_THROTTLED, client, reason="passkey")
            raise LoginThrottled(wait)
        try:
            account_id = self._passkeys.finish_authentication(ceremony_id=ceremony_id,
                                                              credential=credential)
        except InvalidInput as exc:  # reported, not counted: a malformed answer is no guess
            self._emit(EventKind.LOGIN_FAILED, client, reason="passkey",
                       details={"why": "malformed", "field": exc.field})
            raise
        except InvalidSecondFactor as exc:
            self._throttle.failed(attempt)
            self._emit(EventKind.LOGIN_FAILED, client, reason="passkey",
                       details={"why": exc.reason})
            raise
        account = self._accounts.get(account_id)
        if account.status is not AccountStatus.ACTIVE:
            self._emit(EventKind.LOGIN_FAILED, client, account_id=account.id,
                       reason="suspended")
            raise AccountSuspended
        if previous_token:
            self._sessions.logout(token=previous_token, client=client)
        pending = self._sessions.start(account=account, client=client,
                                       level=SessionLevel.PASSWORD, method=None)
        return self._second_factor.promote(view=pending.view, client=client, method=PASSKEY)

    def _store_rehash(self, account_id: int, old_hash: str | None, new_hash: str) -> None:
        """Upgrade a hash made with older parameters, unless it changed meanwhile."""
        with DbSession(self._engine) as db, db.begin():
            db.execute(update(Account)
                       .where(Account.id == account_id, Account.password_hash == old_hash)
                       .values(password_hash=new_hash))

    def _emit(self, kind: EventKind, client: ClientInfo, *, reason: str | None = None,
              account_id: int | None = None, organisation_id: int | None = None,
              session_id: int | None = None, details: dict[str, str] | None = None) -> None:
        self._events.emit(SecurityEvent(kind, self._clock.now(), account_id=account_id,
                                        organisation_id=organisation_id,
                                        session_id=session_id, address=client.address,
                                        reason=reason, details=details or {}))
