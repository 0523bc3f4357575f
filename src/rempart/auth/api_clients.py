"""Practice-software API clients: registered per organisation, revocable.

A client authenticates to the token endpoint with its id and a 256-bit secret, shown
once at registration and stored as a SHA-256. Every API request asks whether its
client is still active (`is_active`, see ACTIVE_SECONDS). Routes that register or
revoke clients require a recent second factor
(rempart.auth.access.require_recent_second_factor).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.orm import Session as DbSession

from rempart.auth.errors import ClientAuthFailed, InvalidInput, NotFound, NotPermitted
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.models import ApiClient
from rempart.auth.roles import Actor, can_manage_api_clients
from rempart.auth.tokens import new_token, token_hash
from rempart.clock import Clock

MAX_NAME = 100
MAX_CLIENT_ID = 40
_DUMMY_HASH = token_hash("rempart-no-such-client")
# How long a worker process may go on trusting its last look-up of a client's
# revocation (the revoking process forgets it at once): a revoked client's tokens stop
# everywhere within this, against a token lifetime of minutes.
ACTIVE_SECONDS = 2.0
ACTIVE_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class ApiClientInfo:
    id: int
    client_id: str
    organisation_id: int
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    info: ApiClientInfo
    client_secret: str  # shown once


_TABLE = ApiClient.__table__
_ACTIVE = select(_TABLE).where(_TABLE.c.client_id == bindparam("client_id"),
                               _TABLE.c.revoked_at.is_(None))


def _info(row: ApiClient | Row[Any]) -> ApiClientInfo:
    return ApiClientInfo(id=row.id, client_id=row.client_id,
                         organisation_id=row.organisation_id, name=row.name,
                         created_at=row.created_at, revoked_at=row.revoked_at)


class ApiClientService:
    def __init__(self, *, engine: Engine, clock: Clock, events: SecurityEventSink) -> None:
        self._engine = engine
        self._clock = clock
        self._events = events
        self._active: dict[str, tuple[bool, float]] = {}  # client id -> (active, when)

    def register(self, *, actor: Actor, organisation_id: int, name: str) -> RegisteredClient:
        if not can_manage_api_clients(actor, organisation_id=organisation_id):
            raise NotPermitted("register API clients for this organisation")
        name = name.strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise InvalidInput("name", f"1 to {MAX_NAME} printable characters")
        secret = new_token()
        row = ApiClient(client_id="rc_" + secrets.token_hex(16), organisation_id=organisation_id,
                        name=name, secret_hash=token_hash(secret), created_by=actor.account_id,
                        created_at=self._clock.now())
        with DbSession(self._engine) as db, db.begin():
            db.add(row)
            db.flush()
            info = _info(row)
        self._emit(EventKind.API_CLIENT_REGISTERED, info, actor)
        return RegisteredClient(info=info, client_secret=secret)

    def revoke(self, *, actor: Actor, client_id: str) -> None:
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
            if row is None:
                raise NotFound("API client")
            if not can_manage_api_clients(actor, organisation_id=row.organisation_id):
                raise NotPermitted("revoke this API client")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
            info = _info(row)
        self._active.pop(client_id, None)
        self._emit(EventKind.API_CLIENT_REVOKED, info, actor)

    def revoke_registered_by(self, *, actor: Actor, account_id: int) -> list[str]:
        """Containment: revoke every active client an account registered (an attacker in
        that account may have registered one); operators only. Returns the client ids."""
        if not actor.role.is_operator:
            raise NotPermitted("revoke another account's API clients")
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            rows = list(db.scalars(select(ApiClient).where(ApiClient.created_by == account_id,
                                                           ApiClient.revoked_at.is_(None))))
            for row in rows:
                row.revoked_at = now
            revoked = [_info(row) for row in rows]
        for info in revoked:
            self._emit(EventKind.API_CLIENT_REVOKED, info, actor)
        return [info.client_id for info in revoked]

    def for_organisation(self, *, actor: Actor, organisation_id: int) -> list[ApiClientInfo]:
        if not can_manage_api_clients(actor, organisation_id=organisation_id):
            raise NotPermitted("see API clients of this organisation")
        with DbSession(self._engine) as db:
            rows = db.scalars(select(ApiClient)
                              .where(ApiClient.organisation_id == organisation_id)
                              .order_by(ApiClient.id))
            return [_info(r) for r in rows]

    def authenticate(self, *, client_id: str, client_secret: str) -> ApiClientInfo:
        """The active client with this id and secret, or ClientAuthFailed."""
        row = self.active(client_id) if 0 < len(client_id) <= MAX_CLIENT_ID else None
        expected = row[1] if row is not None else _DUMMY_HASH
        if not hmac.compare_digest(token_hash(client_secret[:512]), expected) or row is None:
            raise ClientAuthFailed
        return row[0]

    def is_active(self, client_id: str) -> bool:
        """Whether the client may still call the API: asked on every API request.

        The answer is kept ACTIVE_SECONDS per process; `revoke` forgets it at once in
        the process that revoked, so other worker processes stop the client's tokens
        within ACTIVE_SECONDS.
        """
        now = self._clock.monotonic()
        known = self._active.get(client_id)
        if known is not None and now - known[1] < ACTIVE_SECONDS:
            return known[0]
        active = self.active(client_id) is not None
        if len(self._active) >= ACTIVE_CACHE_SIZE:
            self._active.clear()
        self._active[client_id] = (active, now)
        return active

    def active(self, client_id: str) -> tuple[ApiClientInfo, bytes] | None:
        with self._engine.connect() as conn:
            row = conn.execute(_ACTIVE, {"client_id": client_id}).one_or_none()
        return (_info(row), row.secret_hash) if row is not None else None

    def _emit(self, kind: EventKind, info: ApiClientInfo, actor: Actor) -> None:
        self._events.emit(SecurityEvent(kind, self._clock.now(), account_id=actor.account_id,
                                        organisation_id=info.organisation_id,
                                        client_id=info.client_id))
