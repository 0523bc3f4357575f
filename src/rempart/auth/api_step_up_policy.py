"""Who of an organisation may confirm the code that releases a practice software's key.

The guard's step-up of an API key is answered by a person of the client's organisation
typing its code on the portal (rempart.auth.api_step_up). A thief holding the
practice's client credentials with its own DPoP key gets such a code too, and can call
the practice as "vendor support" to have someone type it. Each organisation therefore
chooses who may confirm:

- `admins` (the default, for organisations that never chose, existing ones included):
  only an organisation admin of that organisation. Admins are few, they register and
  revoke the software and are told of every release (rempart.auth.api_release_notices),
  so the person a thief must fool is the one best placed to know whether the software
  really asked.
- `users`: any user of the organisation (with a fresh second factor, as for admins):
  for a practice where no admin is at hand when its software is stepped up.

Only an organisation admin of that organisation changes it; each change is a security
event (`api_step_up_policy_changed`, so an audit entry) with the old and new values.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from rempart.auth.errors import InvalidInput, NotPermitted
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.models import ApiStepUpPolicy
from rempart.auth.roles import Actor, Role
from rempart.clock import Clock


class Approvers(StrEnum):
    ADMINS = "admins"
    USERS = "users"


DEFAULT = Approvers.ADMINS


def may_set(actor: Actor, *, organisation_id: int) -> bool:
    """An organisation admin of that organisation; no one else (an operator neither:
    the practice decides who answers for its software)."""
    return actor.role is Role.ORGANISATION_ADMIN and actor.organisation_id == organisation_id


def may_confirm(approvers: Approvers, actor: Actor, *, organisation_id: int) -> bool:
    """Whether this person may confirm a code of the organisation's software."""
    if actor.organisation_id != organisation_id or actor.role.is_operator:
        return False
    return approvers is Approvers.USERS or actor.role is Role.ORGANISATION_ADMIN


class ApiStepUpPolicies:
    def __init__(self, *, engine: Engine, clock: Clock, events: SecurityEventSink) -> None:
        self._engine = engine
        self._clock = clock
        self._events = events

    def approvers(self, *, organisation_id: int) -> Approvers:
        """The organisation's choice, or the default where it never chose."""
        with DbSession(self._engine) as db:
            value = db.scalar(select(ApiStepUpPolicy.approvers)
                              .where(ApiStepUpPolicy.organisation_id == organisation_id))
        return DEFAULT if value is None else Approvers(value)

    def may_confirm(self, *, actor: Actor, organisation_id: int) -> bool:
        return may_confirm(self.approvers(organisation_id=organisation_id), actor,
                           organisation_id=organisation_id)

    def set(self, *, actor: Actor, organisation_id: int, approvers: str,
            session_id: int | None = None, address: str | None = None) -> Approvers:
        """Record the organisation's choice; returns it. An unchanged value writes and
        records nothing."""
        if not may_set(actor, organisation_id=organisation_id):
            raise NotPermitted("choose who confirms this organisation's software")
        try:
            chosen = Approvers(approvers)
        except ValueError:
            raise InvalidInput("api_step_up_approvers", "admins or users") from None
        now = self._clock.now()
        try:
            previous = self._store(organisation_id, chosen, actor.account_id, now)
        except IntegrityError:  # another admin's first choice meanwhile: change that row
            previous = self._store(organisation_id, chosen, actor.account_id, now)
        if previous is chosen:
            return chosen
        self._events.emit(SecurityEvent(
            EventKind.API_STEP_UP_POLICY_CHANGED, now, account_id=actor.account_id,
            organisation_id=organisation_id, session_id=session_id, address=address,
            reason=chosen.value, details={"previous": previous.value}))
        return chosen

    def _store(self, organisation_id: int, chosen: Approvers, account_id: int,
               now: dt.datetime) -> Approvers:
        """Write the choice unless unchanged; the value it replaces."""
        with DbSession(self._engine) as db, db.begin():
            row = db.get(ApiStepUpPolicy, organisation_id)
            previous = DEFAULT if row is None else Approvers(row.approvers)
            if previous is chosen:
                return previous
            if row is None:
                db.add(ApiStepUpPolicy(organisation_id=organisation_id, approvers=chosen.value,
                                       changed_at=now, changed_by=account_id))
            else:
                row.approvers, row.changed_at, row.changed_by = chosen.value, now, account_id
            return previous
