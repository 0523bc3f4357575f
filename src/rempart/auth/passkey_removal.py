"""The way back for a lost passkey: an admin removes the account's passkeys.

A passkey holder may not replace its passkey from a session that did not pass it
(rempart.auth.enrolment), so a user who lost it asks their organisation's admin (the
admin page) or rempart's operators (the console). Removing ends all the account's
sessions, is a security event (FACTOR_REMOVED, so an audit entry) and is told to the
owner through the outbox; the owner then signs in with TOTP or a recovery code and
creates a new passkey (the account no longer holds one, so today's enrolment rules
apply). An account left without any factor enrols again at its next login, as at its
first (docs/auth.md "A lost passkey").

Who may: `can_manage_account` (an organisation admin for its own organisation's
non-operator accounts, operators as for suspending), never on one's own account.
Whether the actor's own second factor is fresh is the edge's check, as for the
other admin actions; an actor who holds a passkey must have passed it (`actor_method`),
as for changing one's own factors: an admin's phished password and TOTP do not strip a
colleague's passkey.
"""

from __future__ import annotations

from rempart.auth.access import PASSKEY
from rempart.auth.accounts import AccountService
from rempart.auth.errors import FactorChangeNeedsPasskey, NotFound, NotPermitted
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.outbox import NotificationKind, Outbox
from rempart.auth.passkeys import PasskeyService
from rempart.auth.roles import Actor, can_manage_account
from rempart.auth.sessions import SessionService
from rempart.clock import Clock

SESSIONS_ENDED_REASON = "passkeys_removed"
MAX_ACCOUNT_ID = 2**31 - 1  # the column's range: beyond it, no account (PostgreSQL errs)


class PasskeyRemoval:
    def __init__(self, *, accounts: AccountService, passkeys: PasskeyService,
                 sessions: SessionService, outbox: Outbox, clock: Clock,
                 events: SecurityEventSink) -> None:
        self._accounts = accounts
        self._passkeys = passkeys
        self._sessions = sessions
        self._outbox = outbox
        self._clock = clock
        self._events = events

    def remove_all(self, *, actor: Actor, actor_method: str | None, account_id: int,
                   session_id: int | None = None, address: str | None = None) -> int:
        """Remove every passkey of the account, end its sessions, tell its owner; return
        how many passkeys were removed. NotPermitted for one's own account, another
        organisation's or an unknown one (one answer); NotFound when it holds none;
        FactorChangeNeedsPasskey when the actor holds a passkey its session did not pass
        (`actor_method`: the second factor the actor's session passed)."""
        if account_id == actor.account_id:
            raise NotPermitted("remove your own passkeys")
        if not 0 < account_id <= MAX_ACCOUNT_ID:
            raise NotPermitted("remove this account's passkeys")
        try:
            target = self._accounts.get(account_id)
        except NotFound:
            raise NotPermitted("remove this account's passkeys") from None
        if not can_manage_account(actor, role=target.role,
                                  organisation_id=target.organisation_id):
            raise NotPermitted("remove this account's passkeys")
        if actor_method != PASSKEY and self._passkeys.count(actor.account_id):
            self._events.emit(SecurityEvent(
                EventKind.REQUEST_REFUSED, self._clock.now(), account_id=actor.account_id,
                organisation_id=actor.organisation_id, session_id=session_id,
                address=address, reason="factor_change_passkey_required",
                details={"change": "remove_passkeys", "method": actor_method or "-"}))
            raise FactorChangeNeedsPasskey
        held = self._passkeys.for_account(account_id)
        if not held:
            raise NotFound("passkey")
        for passkey in held:
            self._passkeys.remove(account_id=account_id, passkey_id=passkey.id)
        ended = self._sessions.end_all(account_id=account_id, reason=SESSIONS_ENDED_REASON)
        now = self._clock.now()
        self._events.emit(SecurityEvent(
            EventKind.FACTOR_REMOVED, now, account_id=account_id,
            organisation_id=target.organisation_id, session_id=session_id, address=address,
            reason="passkey",
            details={"by": str(actor.account_id), "by_role": actor.role.value,
                     "count": str(len(held)), "sessions_ended": str(len(ended))}))
        self._outbox.enqueue(
            account_id=account_id, recipient=self._accounts.contact(account_id).email,
            kind=NotificationKind.FACTOR_REMOVED,
            payload={"method": "passkey", "count": str(len(held)),
                     "at": now.strftime("%Y-%m-%d %H:%M")})
        return len(held)
