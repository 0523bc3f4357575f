"""Passing the second factor on a session: after the password, at step-up, or to
refresh it before a sensitive action.

Success renews the session id at the FULL level. A full login from a browser the
account has not used before sends the owner a login alert (except on the account's
very first device). Failures are throttled per account like passwords, so a TOTP
code cannot be brute-forced; operator accounts must use a passkey.

A passkey holder's step-up (any second factor on a session already past its password)
takes only the passkey: a TOTP or recovery code there is refused before it is checked
(so not spent) and reported. Its login still takes them: signing in afresh is the way
back for a lost passkey, and that new session is judged by the guard as any new one;
the owner is told of each such login (LOGIN_WITHOUT_PASSKEY in the outbox), and the
session may not change the account's factors (rempart.auth.enrolment).
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

from rempart.auth.access import PASSKEY, RECOVERY, TOTP, methods_for
from rempart.auth.accounts import AccountService
from rempart.auth.client import ClientInfo
from rempart.auth.devices import KnownDevices
from rempart.auth.errors import (
    InvalidInput,
    InvalidSecondFactor,
    LoginThrottled,
    PasskeyRequired,
)
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.outbox import NotificationKind, Outbox
from rempart.auth.passkeys import Ceremony, PasskeyService
from rempart.auth.recovery import RecoveryCodes
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import IssuedSession, SessionService, SessionView
from rempart.auth.throttle import Attempt, LoginThrottle
from rempart.auth.totp import TotpService
from rempart.clock import Clock


def device_key(device_token: str | None) -> str:
    """A short, non-secret key for a device token in throttle keys and events."""
    return hashlib.sha256((device_token or "").encode()).hexdigest()[:32]


class SecondFactorService:
    def __init__(self, *, sessions: SessionService, accounts: AccountService,
                 totp: TotpService, passkeys: PasskeyService, recovery: RecoveryCodes,
                 devices: KnownDevices, outbox: Outbox, throttle: LoginThrottle,
                 clock: Clock, events: SecurityEventSink) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._totp = totp
        self._passkeys = passkeys
        self._recovery = recovery
        self._devices = devices
        self._outbox = outbox
        self._throttle = throttle
        self._clock = clock
        self._events = events

    def methods(self, account_id: int, *, step_up: bool = False) -> list[str]:
        """The account's usable second factors; at a step-up, only its passkey if any."""
        account = self._accounts.get(account_id)
        return methods_for(is_operator=account.role.is_operator,
                           has_passkey=self.has_passkey(account_id),
                           has_totp=self._totp.has_confirmed(account_id),
                           has_recovery=self._recovery.remaining(account_id) > 0,
                           step_up=step_up)

    def has_passkey(self, account_id: int) -> bool:
        return self._passkeys.count(account_id) > 0

    def skipped_passkey(self, *, account_id: int, method: str | None) -> bool:
        """Whether a session that passed `method` skipped the account's passkey (it holds
        one): such a session may not change factors nor release an API key."""
        return method != PASSKEY and self.has_passkey(account_id)

    # -- the three methods ---------------------------------------------------------------

    def begin_passkey(self, *, session_token: str, client: ClientInfo) -> Ceremony:
        view = self._sessions.authenticate(token=session_token, client=client)
        return self._passkeys.begin_authentication(account_id=view.account.id)

    def complete_passkey(self, *, session_token: str, client: ClientInfo, ceremony_id: str,
                         credential: str | dict[str, Any]) -> IssuedSession:
        view = self._sessions.authenticate(token=session_token, client=client)
        self._check_throttle(view, client)
        try:
            self._passkeys.finish_authentication(ceremony_id=ceremony_id,
                                                 credential=credential)
        except InvalidInput as exc:
            self._malformed(view, client, PASSKEY, exc)
        except InvalidSecondFactor as exc:
            self._failed(view, client, PASSKEY, exc)
        return self.promote(view=view, client=client, method=PASSKEY)

    def complete_totp(self, *, session_token: str, client: ClientInfo,
                      code: str) -> IssuedSession:
        view = self._sessions.authenticate(token=session_token, client=client)
        held = self._passkey_only(view, client, TOTP)
        self._check_throttle(view, client)
        try:
            self._totp.verify(account_id=view.account.id, code=code)
        except InvalidInput as exc:
            self._malformed(view, client, TOTP, exc)
        except InvalidSecondFactor as exc:
            self._failed(view, client, TOTP, exc)
        return self.promote(view=view, client=client, method=TOTP, passkey_skipped=held)

    def complete_recovery(self, *, session_token: str, client: ClientInfo,
                          code: str) -> IssuedSession:
        view = self._sessions.authenticate(token=session_token, client=client)
        held = self._passkey_only(view, client, RECOVERY)
        self._check_throttle(view, client)
        try:
            self._recovery.use(account_id=view.account.id, code=code)
        except InvalidInput as exc:
            self._malformed(view, client, RECOVERY, exc)
        except InvalidSecondFactor as exc:
            self._failed(view, client, RECOVERY, exc)
        return self.promote(view=view, client=client, method=RECOVERY, passkey_skipped=held)

    # -- success -------------------------------------------------------------------------

    def promote(self, *, view: SessionView, client: ClientInfo, method: str,
                passkey_skipped: bool = False) -> IssuedSession:
        """Renew the session at FULL after a second factor; alert on a new device.
        passkey_skipped: a passkey holder logged in with TOTP or a recovery code."""
        issued = self._sessions.renew(session=view, client=client, level=SessionLevel.FULL,
                                      method=method)
        account_id = view.account.id
        had_devices = bool(self._devices.for_account(account_id))
        new_device = self._devices.remember(account_id=account_id,
                                            device_token=issued.device_token,
                                            label=client.label)
        self._throttle.succeeded(self._attempt(view, client))
        now = self._clock.now()
        self._events.emit(SecurityEvent(
            EventKind.SECOND_FACTOR_SUCCEEDED, now, account_id=account_id,
            organisation_id=view.account.organisation_id, session_id=view.id,
            address=client.address, reason=method,
            details={"step_up": str(view.level is not SessionLevel.PASSWORD).lower(),
                     "new_device": str(new_device).lower(),
                     **({"passkey_skipped": "true"} if passkey_skipped else {})}))
        if view.level is SessionLevel.PASSWORD:
            self._events.emit(SecurityEvent(
                EventKind.LOGIN_SUCCEEDED, now, account_id=account_id,
                organisation_id=view.account.organisation_id, session_id=view.id,
                address=client.address, reason=method))
        if passkey_skipped:
            # Each such login, known device or not, in place of the new-device alert: a
            # phished password and TOTP code would be used just so.
            self._outbox.enqueue(
                account_id=account_id, recipient=self._accounts.contact(account_id).email,
                kind=NotificationKind.LOGIN_WITHOUT_PASSKEY,
                payload={"at": now.strftime("%Y-%m-%d %H:%M"), "device": client.label,
                         "address": client.address, "method": method})
        elif new_device and had_devices:
            self._outbox.enqueue(
                account_id=account_id, recipient=self._accounts.contact(account_id).email,
                kind=NotificationKind.NEW_DEVICE_LOGIN,
                payload={"at": now.strftime("%Y-%m-%d %H:%M"), "device": client.label,
                         "address": client.address})
        return issued

    # -- failure and throttling ------------------------------------------------------------

    def _passkey_only(self, view: SessionView, client: ClientInfo, method: str) -> bool:
        """Refuse a TOTP or recovery code where only a passkey will do; else say whether
        the account holds a passkey (it is then a login's fallback, recorded as such)."""
        if view.account.role.is_operator:
            raise PasskeyRequired
        held = self.has_passkey(view.account.id)
        if held and view.level is not SessionLevel.PASSWORD:
            # Not a guess (the code is not even looked at): reported, not throttled.
            self._events.emit(SecurityEvent(
                EventKind.SECOND_FACTOR_FAILED, self._clock.now(), account_id=view.account.id,
                organisation_id=view.account.organisation_id, session_id=view.id,
                address=client.address, reason=method,
                details={"why": "passkey_required", "step_up": "true"}))
            raise PasskeyRequired("this account has a passkey: a step-up needs it")
        return held

    def _attempt(self, view: SessionView, client: ClientInfo) -> Attempt:
        return Attempt(login_key=f"account-{view.account.id}", address=client.address)

    def _check_throttle(self, view: SessionView, client: ClientInfo) -> None:
        wait = self._throttle.retry_after(self._attempt(view, client))
        if wait > 0:
            self._events.emit(SecurityEvent(EventKind.LOGIN_THROTTLED, self._clock.now(),
                                            account_id=view.account.id, session_id=view.id,
                                            address=client.address, reason="second_factor"))
            raise LoginThrottled(wait)

    def _malformed(self, view: SessionView, client: ClientInfo, method: str,
                   exc: InvalidInput) -> NoReturn:
        """Reported, not counted: a malformed code is no guess."""
        self._events.emit(SecurityEvent(
            EventKind.SECOND_FACTOR_FAILED, self._clock.now(), account_id=view.account.id,
            organisation_id=view.account.organisation_id, session_id=view.id,
            address=client.address, reason=method,
            details={"why": "malformed", "field": exc.field}))
        raise exc

    def _failed(self, view: SessionView, client: ClientInfo, method: str,
                exc: InvalidSecondFactor) -> NoReturn:
        self._throttle.failed(self._attempt(view, client))
        self._events.emit(SecurityEvent(
            EventKind.SECOND_FACTOR_FAILED, self._clock.now(), account_id=view.account.id,
            organisation_id=view.account.organisation_id, session_id=view.id,
            address=client.address, reason=method, details={"why": exc.reason}))
        raise exc
