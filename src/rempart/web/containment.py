"""The exfiltration guard's rungs carried out on authentication: a portal session asked
for a fresh second factor, a portal session revoked, an account suspended.

The guard acts as an operator would: the suspension is recorded under the guard's own
actor (account id 0, an operator security analyst, who may contain but not act on
operator admins) and an operator restores the account (docs/guard.md).
"""

from __future__ import annotations

import structlog

from rempart.auth.errors import AuthError
from rempart.auth.roles import Actor, Role
from rempart.auth.services import AuthServices
from rempart.auth.session_store import SessionLevel
from rempart.clock import Clock
from rempart.guard.gate import PORTAL_PREFIX

log = structlog.get_logger(__name__)
GUARD_ACTOR = Actor(account_id=0, role=Role.OPERATOR_SECURITY_ANALYST, organisation_id=None)
REASON = "exfiltration_guard"


class AuthContainment:
    def __init__(self, *, auth: AuthServices, clock: Clock) -> None:
        self._auth = auth
        self._clock = clock

    def require_step_up(self, session_id: str) -> None:
        portal = _portal_id(session_id)
        if portal is not None:
            self._auth.session_store.set_level(portal, SessionLevel.STEP_UP)

    def end_session(self, session_id: str) -> None:
        portal = _portal_id(session_id)
        if portal is not None:
            self._auth.session_store.end(portal, at=self._clock.now(), reason=REASON)

    def suspend_account(self, account_id: int) -> None:
        try:
            self._auth.accounts.suspend(actor=GUARD_ACTOR, account_id=account_id,
                                        reason=REASON)
        except AuthError as exc:  # an operator admin's account: its sessions still end
            log.warning("guard could not suspend the account", error_type=type(exc).__name__)
            self._auth.session_store.end_all_for_account(account_id, at=self._clock.now(),
                                                         reason=REASON)


def _portal_id(session_id: str) -> int | None:
    raw = session_id.removeprefix(PORTAL_PREFIX)
    return int(raw) if session_id.startswith(PORTAL_PREFIX) and raw.isdigit() else None
