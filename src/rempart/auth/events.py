"""Security events: what happened, to which account and session, never with secrets.

Services report through the `SecurityEventSink` protocol; a later issue hashes the
events into the audit log. An event carries internal ids (not personal data), the
client address, a kind and a short reason code: never a login, password, code,
token, name or e-mail address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import structlog


class EventKind(StrEnum):
    PASSWORD_ACCEPTED = "password_accepted"  # noqa: S105
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    SECOND_FACTOR_SUCCEEDED = "second_factor_succeeded"
    SECOND_FACTOR_FAILED = "second_factor_failed"
    FACTOR_ENROLLED = "factor_enrolled"
    # An admin or operator removed an account's passkeys (reason: "passkey"; details: how
    # many, the sessions ended, the acting account's id and role).
    FACTOR_REMOVED = "factor_removed"
    STEP_UP_REQUIRED = "step_up_required"
    SESSION_REFUSED = "session_refused"
    SESSION_ENDED = "session_ended"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_SUSPENDED = "account_suspended"
    ACCOUNT_REACTIVATED = "account_reactivated"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    INVITATION_CREATED = "invitation_created"
    INVITATION_REFUSED = "invitation_refused"
    API_CLIENT_REGISTERED = "api_client_registered"
    API_CLIENT_REVOKED = "api_client_revoked"
    API_TOKEN_ISSUED = "api_token_issued"  # noqa: S105
    API_TOKEN_REFUSED = "api_token_refused"  # noqa: S105
    API_REQUEST_REFUSED = "api_request_refused"
    # A person of the organisation answered the guard's step-up of one API key (never
    # with the code).
    API_CLIENT_STEPPED_UP = "api_client_stepped_up"
    # An organisation admin changed who may confirm those codes (reason: the new value).
    API_STEP_UP_POLICY_CHANGED = "api_step_up_policy_changed"
    # A portal request refused at the edge: missing CSRF token, malformed or oversized form.
    REQUEST_REFUSED = "request_refused"


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    kind: EventKind
    at: dt.datetime
    account_id: int | None = None
    organisation_id: int | None = None
    session_id: int | None = None
    client_id: str | None = None
    address: str | None = None
    reason: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class SecurityEventSink(Protocol):
    def emit(self, event: SecurityEvent) -> None: ...


class MemoryEventSink:
    """Keeps events in a list: for tests, drills and a single process."""

    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def emit(self, event: SecurityEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]

    def of_kind(self, kind: EventKind) -> list[SecurityEvent]:
        return [e for e in self.events if e.kind is kind]


class LogEventSink:
    """Writes each event as one structured log line."""

    def __init__(self, logger_name: str = "rempart.security") -> None:
        self._log = structlog.get_logger(logger_name)

    def emit(self, event: SecurityEvent) -> None:
        self._log.info(
            event.kind.value, at=event.at.isoformat(), account_id=event.account_id,
            organisation_id=event.organisation_id, session_id=event.session_id,
            client_id=event.client_id, address=event.address, reason=event.reason,
            **event.details,
        )
