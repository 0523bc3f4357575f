"""Accounts: creation, look-up, passwords, suspension.

Providers' accounts come from invitations (rempart.auth.invitations); this service
creates accounts directly only for bootstrapping (the first operator admin, demos).
Suspending an account ends its sessions in the same call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from rempart.auth.errors import (
    AccountConflict,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.models import Account
from rempart.auth.passwords import PasswordHasher, PasswordPolicy
from rempart.auth.roles import AccountStatus, Actor, Role, can_manage_account
from rempart.auth.session_store import SessionStore
from rempart.auth.tokens import (
    ACCOUNT_KIND,
    ContactFields,
    login_candidates,
    login_index,
    new_public_id,
    open_contact,
    seal_contact,
)
from rempart.clock import Clock
from rempart.vault import Vault

MAX_EMAIL = 254
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    public_id: str
    role: Role
    status: AccountStatus
    organisation_id: int | None
    professional_id: int | None

    @property
    def actor(self) -> Actor:
        return Actor(account_id=self.id, role=self.role, organisation_id=self.organisation_id)


_VIEW_COLUMNS: list[Any] = [Account.id, Account.public_id, Account.role, Account.status,
                             Account.organisation_id, Account.professional_id]
_VIEW_BY_ID = select(*_VIEW_COLUMNS).where(Account.id == bindparam("id"))


def view_of(row: Account | Row[Any]) -> AccountView:
    return AccountView(id=row.id, public_id=row.public_id, role=Role(row.role),
                       status=AccountStatus(row.status), organisation_id=row.organisation_id,
                       professional_id=row.professional_id)


def check_contact(contact: ContactFields) -> None:
    email = contact.email.strip()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL or any(
            c.isspace() or ord(c) < 32 for c in email):
        raise InvalidInput("email", "not an e-mail address")
    name = contact.display_name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidInput("display_name", f"1 to {MAX_NAME} printable characters")


def check_role_scope(role: Role, organisation_id: int | None) -> None:
    if role.needs_organisation and organisation_id is None:
        raise InvalidInput("organisation", "provider accounts belong to an organisation")
    if role.is_operator and organisation_id is not None:
        raise InvalidInput("organisation", "operator accounts belong to no organisation")


class AccountService:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock, hasher: PasswordHasher,
                 policy: PasswordPolicy, sessions: SessionStore,
                 events: SecurityEventSink) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._hasher = hasher
        self._policy = policy
        self._sessions = sessions
        self._events = events

    # -- creation and look-up ----------------------------------------------

    def create_account(self, *, contact: ContactFields, password: str, role: Role,
                       organisation_id: int | None, professional_id: int | None = None,
                       ) -> AccountView:
        """Create an active account (bootstrap path; providers come through invitations)."""
        check_contact(contact)
        check_role_scope(role, organisation_id)
        self._policy.check(password, login=contact.email)
        now = self._clock.now()
        public_id = new_public_id()
        row = Account(
            public_id=public_id, role=role.value, status=AccountStatus.ACTIVE.value,
            organisation_id=organisation_id, professional_id=professional_id,
            login_idx=login_index(self._vault, contact.email),
            key_version=self._vault.current_version,
            sealed=seal_contact(self._vault, contact, kind=ACCOUNT_KIND, public_id=public_id),
            password_hash=self._hasher.hash(password), password_changed_at=now, created_at=now,
        )
        if self.login_taken(contact.email):
            raise AccountConflict
        try:
            with DbSession(self._engine) as db, db.begin():
                db.add(row)
                db.flush()
                view = view_of(row)
        except IntegrityError:
            raise AccountConflict from None
        self._emit(EventKind.ACCOUNT_CREATED, view, reason=role.value)
        return view

    def login_taken(self, login: str) -> bool:
        with DbSession(self._engine) as db:
            return db.scalar(select(Account.id).where(
                Account.login_idx.in_(login_candidates(self._vault, login)))) is not None

    def get(self, account_id: int) -> AccountView:
        # Read on every portal request (suspension must end sessions at once): Core only.
        with self._engine.connect() as conn:
            row = conn.execute(_VIEW_BY_ID, {"id": account_id}).one_or_none()
        if row is None:
            raise NotFound("account")
        return view_of(row)

    def contact(self, account_id: int) -> ContactFields:
        with DbSession(self._engine) as db:
            row = db.get(Account, account_id)
            if row is None:
                raise NotFound("account")
            return open_contact(self._vault, row.sealed, version=row.key_version,
                                kind=ACCOUNT_KIND, public_id=row.public_id)

    def in_organisation(self, organisation_id: int) -> list[AccountView]:
        with DbSession(self._engine) as db:
            rows = db.scalars(select(Account).where(Account.organisation_id == organisation_id)
                              .order_by(Account.id))
            return [view_of(r) for r in rows]

    # -- passwords -------------------------------------------------------------

    def change_password(self, *, account_id: int, current: str, new: str) -> None:
        """Change a password; every other session of the account ends."""
        with DbSession(self._engine) as db, db.begin():
            row = db.get(Account, account_id)
            if row is None:
                raise NotFound("account")
            if not self._hasher.verify(row.password_hash, current).ok:
                raise InvalidCredentials
            email = open_contact(self._vault, row.sealed, version=row.key_version,
                                 kind=ACCOUNT_KIND, public_id=row.public_id).email
            self._policy.check(new, login=email)
            row.password_hash = self._hasher.hash(new)
            row.password_changed_at = self._clock.now()
            view = view_of(row)
        self._emit(EventKind.PASSWORD_CHANGED, view)

    # -- suspension ------------------------------------------------------------

    def suspend(self, *, actor: Actor, account_id: int, reason: str) -> list[int]:
        """Suspend an account and end all its sessions at once; return the ended ids."""
        target = self._manageable(actor, account_id)
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            row = db.get(Account, target.id)
            if row is not None:
                row.status = AccountStatus.SUSPENDED.value
                row.suspended_at = now
        ended = self._sessions.end_all_for_account(target.id, at=now, reason="suspended")
        self._emit(EventKind.ACCOUNT_SUSPENDED, target, reason=_code(reason),
                   details={"by": str(actor.account_id), "sessions_ended": str(len(ended))})
        for session_id in ended:
            self._events.emit(SecurityEvent(EventKind.SESSION_ENDED, now, account_id=target.id,
                                            organisation_id=target.organisation_id,
                                            session_id=session_id, reason="suspended"))
        return ended

    def reactivate(self, *, actor: Actor, account_id: int) -> None:
        target = self._manageable(actor, account_id)
        with DbSession(self._engine) as db, db.begin():
            row = db.get(Account, target.id)
            if row is not None:
                row.status = AccountStatus.ACTIVE.value
                row.suspended_at = None
        self._emit(EventKind.ACCOUNT_REACTIVATED, target,
                   details={"by": str(actor.account_id)})

    def _manageable(self, actor: Actor, account_id: int) -> AccountView:
        target = self.get(account_id)
        if not can_manage_account(actor, role=target.role,
                                  organisation_id=target.organisation_id):
            raise NotPermitted("manage this account")
        return target

    def _emit(self, kind: EventKind, view: AccountView, *, reason: str | None = None,
              details: dict[str, str] | None = None) -> None:
        self._events.emit(SecurityEvent(kind, self._clock.now(), account_id=view.id,
                                        organisation_id=view.organisation_id, reason=reason,
                                        details=details or {}))


def _code(reason: str) -> str:
    """Keep a reason to a short code: free text could carry personal data."""
    cleaned = "".join(c for c in reason.lower() if c.isalnum() or c in "_-")[:40]
    return cleaned or "unspecified"
