"""What the portal's routes share, built once per app and kept on app.state.portal."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from rempart.auth.events import EventKind, SecurityEvent
from rempart.auth.services import AuthServices
from rempart.clock import Clock
from rempart.coverage.claims import ClaimService
from rempart.coverage.service import CheckService
from rempart.guard.gate import CheckGate
from rempart.portal.rendering import Templates
from rempart.web.auth_identity import SessionAuthenticator
from rempart.web.cookies import CookiePolicy


@dataclass(frozen=True)
class Portal:
    auth: AuthServices
    cookies: CookiePolicy
    sessions: SessionAuthenticator
    checks: CheckService
    claims: ClaimService
    clock: Clock
    engine: Engine
    templates: Templates
    guard: CheckGate | None = None  # told of step-ups, logouts and restorations

    def refused(self, *, reason: str, address: str | None, account_id: int | None = None,
                session_id: int | None = None, details: dict[str, str] | None = None,
                ) -> None:
        """Report a request refused at the edge (never with the submitted value)."""
        self.auth.events.emit(SecurityEvent(
            EventKind.REQUEST_REFUSED, self.clock.now(), account_id=account_id,
            session_id=session_id, address=address, reason=reason,
            details=details or {}))
