"""Enrolling second factors: at first login, and later from the security page.

An account without any second factor can only enrol one: its PASSWORD-level session
may do that and nothing else, and the enrolment completes the login (the session is
renewed at FULL). Adding a factor to an account that has one needs a recent second
factor, and the owner is told by e-mail. Operator accounts can enrol passkeys only.
Recovery codes are issued with the first factor of a provider account.

A passkey holder changes its factors (a passkey added, TOTP enrolled again, new recovery
codes) only from a session whose recent second factor was the passkey: a login with a
phished password and TOTP code would otherwise make the account its own for good. The
refusal (FactorChangeNeedsPasskey) is a security event and changes nothing; a lost
passkey is removed by the organisation's admin or an operator (rempart.auth.passkey_removal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rempart.auth.access import PASSKEY, TOTP, require_recent_second_factor
from rempart.auth.accounts import AccountService
from rempart.auth.client import ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.errors import FactorChangeNeedsPasskey, PasskeyRequired
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.outbox import NotificationKind, Outbox
from rempart.auth.passkeys import Ceremony, PasskeyInfo, PasskeyService
from rempart.auth.recovery import RecoveryCodes
from rempart.auth.second_factor import SecondFactorService
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import IssuedSession, SessionService, SessionView
from rempart.auth.totp import TotpEnrolment, TotpService
from rempart.clock import Clock


@dataclass(frozen=True, slots=True)
class EnrolmentResult:
    # The renewed session when this enrolment completed a first login, else None.
    session: IssuedSession | None
    # Recovery codes to show once (issued with a provider's first factor), else empty.
    recovery_codes: list[str]


class EnrolmentService:
    def __init__(self, *, sessions: SessionService, second_factor: SecondFactorService,
                 accounts: AccountService, totp: TotpService, passkeys: PasskeyService,
                 recovery: RecoveryCodes, outbox: Outbox, settings: AuthSettings,
                 clock: Clock, events: SecurityEventSink) -> None:
        self._sessions = sessions
        self._second_factor = second_factor
        self._accounts = accounts
        self._totp = totp
        self._passkeys = passkeys
        self._recovery = recovery
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self._events = events

    # -- TOTP ---------------------------------------------------------------------

    def begin_totp(self, *, session_token: str, client: ClientInfo) -> TotpEnrolment:
        view = self._enrolling(session_token, client, TOTP)
        if view.account.role.is_operator:
            raise PasskeyRequired
        email = self._accounts.contact(view.account.id).email
        return self._totp.begin_enrolment(account_id=view.account.id, account_label=email)

    def confirm_totp(self, *, session_token: str, client: ClientInfo,
                     code: str) -> EnrolmentResult:
        view = self._enrolling(session_token, client, TOTP)
        if view.account.role.is_operator:
            raise PasskeyRequired
        first = not self._second_factor.methods(view.account.id)
        self._totp.confirm_enrolment(account_id=view.account.id, code=code)
        return self._enrolled(view, client, TOTP, first=first)

    # -- passkeys -------------------------------------------------------------------

    def begin_passkey(self, *, session_token: str, client: ClientInfo) -> Ceremony:
        view = self._enrolling(session_token, client, PASSKEY)
        contact = self._accounts.contact(view.account.id)
        return self._passkeys.begin_registration(
            account_id=view.account.id, user_handle=bytes.fromhex(view.account.public_id),
            user_name=contact.email, display_name=contact.display_name)

    def finish_passkey(self, *, session_token: str, client: ClientInfo, ceremony_id: str,
                       credential: str | dict[str, Any], label: str) -> EnrolmentResult:
        view = self._enrolling(session_token, client, PASSKEY)
        first = not self._second_factor.methods(view.account.id)
        self._passkeys.finish_registration(account_id=view.account.id,
                                           ceremony_id=ceremony_id, credential=credential,
                                           label=label)
        return self._enrolled(view, client, PASSKEY, first=first)

    def passkeys(self, *, session_token: str, client: ClientInfo) -> list[PasskeyInfo]:
        view = self._sessions.authenticate(token=session_token, client=client)
        return self._passkeys.for_account(view.account.id)

    # -- recovery codes ------------------------------------------------------------

    def regenerate_recovery_codes(self, *, session_token: str,
                                  client: ClientInfo) -> list[str]:
        view = self._sessions.authenticate(token=session_token, client=client)
        self._require_recent(view)
        if view.account.role.is_operator:
            raise PasskeyRequired
        self._require_passkey_if_held(view, client, "recovery_codes")
        return self._recovery.generate(account_id=view.account.id,
                                       count=self._settings.recovery_code_count)

    # -- shared ------------------------------------------------------------------------

    def may_change_factors(self, *, view: SessionView) -> bool:
        """False when the account holds a passkey and the session (authenticated by the
        caller) did not pass it (the pages say so before a ceremony is begun); recency is
        asked at the change."""
        return not self._second_factor.skipped_passkey(account_id=view.account.id,
                                                       method=view.method)

    def _enrolling(self, session_token: str, client: ClientInfo, what: str) -> SessionView:
        """The session, if it may enrol: any level for a first factor, else recent FULL
        (and the passkey, when the account holds one)."""
        view = self._sessions.authenticate(token=session_token, client=client)
        if self._second_factor.methods(view.account.id):
            self._require_recent(view)
            self._require_passkey_if_held(view, client, what)
        return view

    def _require_passkey_if_held(self, view: SessionView, client: ClientInfo,
                                 what: str) -> None:
        if not self._second_factor.skipped_passkey(account_id=view.account.id,
                                                   method=view.method):
            return
        self._events.emit(SecurityEvent(
            EventKind.REQUEST_REFUSED, self._clock.now(), account_id=view.account.id,
            organisation_id=view.account.organisation_id, session_id=view.id,
            address=client.address, reason="factor_change_passkey_required",
            details={"change": what, "method": view.method or "-"}))
        raise FactorChangeNeedsPasskey

    def _require_recent(self, view: SessionView) -> None:
        require_recent_second_factor(view, now=self._clock.now(),
                                     within_seconds=self._settings.recent_auth_seconds)

    def _enrolled(self, view: SessionView, client: ClientInfo, method: str, *,
                  first: bool) -> EnrolmentResult:
        account_id = view.account.id
        self._events.emit(SecurityEvent(
            EventKind.FACTOR_ENROLLED, self._clock.now(), account_id=account_id,
            organisation_id=view.account.organisation_id, session_id=view.id,
            address=client.address, reason=method, details={"first": str(first).lower()}))
        codes: list[str] = []
        if not view.account.role.is_operator and self._recovery.remaining(account_id) == 0:
            codes = self._recovery.generate(account_id=account_id,
                                            count=self._settings.recovery_code_count)
        if not first:
            self._outbox.enqueue(
                account_id=account_id, recipient=self._accounts.contact(account_id).email,
                kind=NotificationKind.FACTOR_ADDED,
                payload={"method": method, "at": self._clock.now().strftime("%Y-%m-%d %H:%M")})
        session = None
        if view.level is not SessionLevel.FULL:
            session = self._second_factor.promote(view=view, client=client, method=method)
        return EnrolmentResult(session=session, recovery_codes=codes)
