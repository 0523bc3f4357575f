"""Invitations: how provider users get an account.

An organisation admin (or an operator admin) invites an e-mail address with a role.
The invitation token is sent by e-mail (the outbox) and returned once to the caller;
only its hash is stored. Accepting it creates the account with the invited login and
role; it works once and before its expiry, and any failure gives the same answer.
One made after the clock's reading (the wall clock went back since) counts as expired
(`rempart.auth.clock_skew`): a jump back never lengthens its life.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from rempart.auth import clock_skew
from rempart.auth.accounts import AccountView, check_contact, check_role_scope, view_of
from rempart.auth.client import MAX_TOKEN_LENGTH
from rempart.auth.errors import AccountConflict, InvitationInvalid, NotPermitted
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.models import Account, Invitation
from rempart.auth.outbox import NotificationKind, Outbox
from rempart.auth.passwords import PasswordHasher, PasswordPolicy
from rempart.auth.roles import AccountStatus, Actor, Role, can_invite
from rempart.auth.tokens import (
    ACCOUNT_KIND,
    INVITATION_KIND,
    ContactFields,
    login_candidates,
    login_index,
    new_public_id,
    new_token,
    open_contact,
    seal_contact,
    token_hash,
)
from rempart.clock import Clock
from rempart.vault import Vault


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    id: int
    token: str  # shown once; only its hash is kept
    expires_at: dt.datetime


class InvitationService:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock, hasher: PasswordHasher,
                 policy: PasswordPolicy, outbox: Outbox, events: SecurityEventSink,
                 lifetime_seconds: int, accept_url: str) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._hasher = hasher
        self._policy = policy
        self._outbox = outbox
        self._events = events
        self._lifetime = dt.timedelta(seconds=lifetime_seconds)
        self._accept_url = accept_url

    def invite(self, *, actor: Actor, contact: ContactFields, role: Role,
               organisation_id: int | None, professional_id: int | None = None,
               ) -> IssuedInvitation:
        if not can_invite(actor, role=role, organisation_id=organisation_id):
            raise NotPermitted("invite into this organisation with this role")
        check_contact(contact)
        check_role_scope(role, organisation_id)
        candidates = login_candidates(self._vault, contact.email)
        now = self._clock.now()
        token = new_token()
        public_id = new_public_id()
        with DbSession(self._engine) as db, db.begin():
            if db.scalar(select(Account.id).where(Account.login_idx.in_(candidates))):
                raise AccountConflict
            row = Invitation(
                public_id=public_id, token_hash=token_hash(token), role=role.value,
                organisation_id=organisation_id, professional_id=professional_id,
                login_idx=login_index(self._vault, contact.email),
                key_version=self._vault.current_version,
                sealed=seal_contact(self._vault, contact, kind=INVITATION_KIND,
                                    public_id=public_id),
                invited_by=actor.account_id, created_at=now, expires_at=now + self._lifetime,
            )
            db.add(row)
            db.flush()
            issued = IssuedInvitation(id=row.id, token=token, expires_at=row.expires_at)
        self._outbox.enqueue(account_id=None, recipient=contact.email,
                             kind=NotificationKind.INVITATION,
                             payload={"link": f"{self._accept_url}{token}",
                                      "expires": issued.expires_at.strftime("%Y-%m-%d %H:%M")})
        self._events.emit(SecurityEvent(EventKind.INVITATION_CREATED, now,
                                        account_id=actor.account_id,
                                        organisation_id=organisation_id, reason=role.value))
        return issued

    def accept(self, *, token: str, password: str, address: str | None = None) -> AccountView:
        """Create the invited account; the invitation then never works again."""
        now = self._clock.now()
        if not token or len(token) > MAX_TOKEN_LENGTH:
            self._refused(address, "malformed")
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(Invitation)
                            .where(Invitation.token_hash == token_hash(token))
                            .with_for_update())
            if row is None or row.used_at is not None or row.expires_at <= now:
                reason = "unknown" if row is None else (
                    "used" if row.used_at is not None else "expired")
                self._refused(address, reason)
            if clock_skew.ahead(row.created_at, now):
                # Made before the clock went back: its expiry would come the jump late.
                clock_skew.refused("invitation", at=row.created_at, now=now)
                self._refused(address, "clock_skew")
            contact = open_contact(self._vault, row.sealed, version=row.key_version,
                                   kind=INVITATION_KIND, public_id=row.public_id)
            # The password is checked before anything is written: a refusal changes nothing.
            self._policy.check(password, login=contact.email)
            claimed = db.execute(update(Invitation)
                                 .where(Invitation.id == row.id, Invitation.used_at.is_(None))
                                 .values(used_at=now)
                                 .execution_options(synchronize_session=False))
            if not claimed.rowcount:  # type: ignore[attr-defined]
                self._refused(address, "used")
            account_public_id = new_public_id()
            account = Account(
                public_id=account_public_id, role=row.role, status=AccountStatus.ACTIVE.value,
                organisation_id=row.organisation_id, professional_id=row.professional_id,
                login_idx=login_index(self._vault, contact.email),
                key_version=self._vault.current_version,
                sealed=seal_contact(self._vault, contact, kind=ACCOUNT_KIND,
                                    public_id=account_public_id),
                password_hash=self._hasher.hash(password), password_changed_at=now,
                created_at=now,
            )
            db.add(account)
            try:
                db.flush()
            except IntegrityError:
                raise AccountConflict from None
            db.execute(update(Invitation).where(Invitation.id == row.id)
                       .values(account_id=account.id)
                       .execution_options(synchronize_session=False))
            view = view_of(account)
        self._events.emit(SecurityEvent(EventKind.ACCOUNT_CREATED, now, account_id=view.id,
                                        organisation_id=view.organisation_id,
                                        address=address, reason=view.role.value,
                                        details={"via": "invitation"}))
        return view

    def _refused(self, address: str | None, reason: str) -> NoReturn:
        self._events.emit(SecurityEvent(EventKind.INVITATION_REFUSED, self._clock.now(),
                                        address=address, reason=reason))
        raise InvitationInvalid
