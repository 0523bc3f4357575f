"""Security events into the audit log: authentication, containment, keys, configuration.

`AuditSecurityEventSink` is the auth domain's SecurityEventSink: each event becomes an
`auth.<kind>` entry, appended through the group commit and waited for, so that a login
whose record cannot be written fails (fail closed) rather than going unrecorded.
`record_operation` is the same for operators' actions outside the auth domain (key
rotation, configuration changes): call it before the action, and again after.

Events carry ids, an address, a kind and short reason codes. What the detail keeps is
checked again here: a key that is not a plain name, or a value that looks like an
identifier (a long run of digits), is left out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from rempart.audit.records import (
    LONG_DIGITS,
    MAX_DETAIL_STRING,
    MAX_ID,
    NAME_PATTERN,
    PERSONAL_KEYS,
    TOKEN_PATTERN,
    DetailValue,
)
from rempart.audit.service import AuditLog, AuditReceipt
from rempart.auth.events import SecurityEvent, SecurityEventSink

MAX_SECURITY_DETAIL_KEYS = 12


class AuditSecurityEventSink:
    """Satisfies `rempart.auth.events.SecurityEventSink`; optionally forwards each event
    (to the structured log, say) once it is recorded."""

    def __init__(self, *, audit: AuditLog, forward_to: SecurityEventSink | None = None) -> None:
        self._audit = audit
        self._forward = forward_to

    def emit(self, event: SecurityEvent) -> None:
        detail: dict[str, DetailValue] = {}
        if event.reason is not None:
            detail["reason"] = event.reason
        if event.client_id is not None:
            detail["client_id"] = event.client_id
        detail.update(event.details)
        self._audit.append(
            event=f"auth.{event.kind.value}", account_id=_positive(event.account_id),
            organisation_id=_positive(event.organisation_id),
            session_id=_session(event), client_address=clean_address(event.address),
            detail=safe_detail(detail))
        if self._forward is not None:
            self._forward.emit(event)

    def start_writer(self) -> None:
        """Start the audit log's writer thread (before serving)."""
        self._audit.start_writer()

    def close(self) -> None:
        """Stop the audit log's writer once what is queued is written (at shutdown)."""
        self._audit.close()


def record_operation(audit: AuditLog, *, event: str, account_id: int | None = None,
                     detail: Mapping[str, DetailValue] | None = None) -> AuditReceipt:
    """Append an operator's action (`keys.rotation_started`, `config.insurer_key_added`,
    ...) and wait for it; raises AuditWriteFailed when it cannot be recorded."""
    return audit.append(event=event, account_id=account_id, detail=safe_detail(detail or {}))


def safe_detail(detail: Mapping[str, object]) -> dict[str, DetailValue]:
    """Keep what an audit detail may hold; drop anything that could carry personal data."""
    kept: dict[str, DetailValue] = {}
    for key, value in detail.items():
        if len(kept) >= MAX_SECURITY_DETAIL_KEYS:
            break
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key) or key in PERSONAL_KEYS:
            continue
        if value is None or isinstance(value, bool) or (
                isinstance(value, int) and abs(value) <= MAX_ID):
            kept[key] = value
        elif isinstance(value, str) and not LONG_DIGITS.search(value):
            kept[key] = value[:MAX_DETAIL_STRING]
    return kept


def _positive(value: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _session(event: SecurityEvent) -> str | None:
    """The session as the disclosures name it (rempart.web.auth_identity): `portal:<id>`
    for a portal session, `api:<client id>` for an API client, so that one breach scope
    selector finds both the session's security events and its disclosures."""
    if event.session_id is not None:
        text = f"portal:{event.session_id}"
    elif event.client_id is not None:
        text = f"api:{event.client_id}"
    else:
        return None
    return text if TOKEN_PATTERN.fullmatch(text) else None


def clean_address(value: str | None) -> str | None:
    """The address normalised, or None when it is not an IPv4 or IPv6 address."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
