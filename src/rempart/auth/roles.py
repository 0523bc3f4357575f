"""Roles and who may act on whom: pure rules, no I/O.

Provider users and organisation admins belong to one organisation; operator roles
belong to the operator (no organisation) and must use a passkey.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PROVIDER_USER = "provider_user"
    ORGANISATION_ADMIN = "organisation_admin"
    OPERATOR_SECURITY_ANALYST = "operator_security_analyst"
    OPERATOR_ADMIN = "operator_admin"

    @property
    def is_operator(self) -> bool:
        return self in (Role.OPERATOR_SECURITY_ANALYST, Role.OPERATOR_ADMIN)

    @property
    def needs_organisation(self) -> bool:
        return not self.is_operator


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: enough to decide permissions, nothing personal."""

    account_id: int
    role: Role
    organisation_id: int | None


def can_invite(actor: Actor, *, role: Role, organisation_id: int | None) -> bool:
    """Operator admins invite anyone; organisation admins invite into their organisation."""
    if actor.role is Role.OPERATOR_ADMIN:
        return True
    if actor.role is Role.ORGANISATION_ADMIN:
        return not role.is_operator and organisation_id == actor.organisation_id
    return False


def can_manage_account(actor: Actor, *, role: Role, organisation_id: int | None) -> bool:
    """End sessions of, suspend or reactivate another account."""
    if actor.role.is_operator:
        # A security analyst contains incidents but cannot act on operator admins.
        return actor.role is Role.OPERATOR_ADMIN or role is not Role.OPERATOR_ADMIN
    if actor.role is Role.ORGANISATION_ADMIN:
        return not role.is_operator and organisation_id == actor.organisation_id
    return False


def can_manage_api_clients(actor: Actor, *, organisation_id: int) -> bool:
    if actor.role is Role.OPERATOR_ADMIN:
        return True
    return actor.role is Role.ORGANISATION_ADMIN and actor.organisation_id == organisation_id
