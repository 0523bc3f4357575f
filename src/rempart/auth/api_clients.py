"""Practice-software API clients: registered per organisation, revocable.

A client authenticates to the token endpoint with its id and a 256-bit secret, shown
once at registration and stored as a SHA-256. Every API request asks whether its
client is still active (`is_active`): a process keeps what it learnt of each client,
and asks the database at most every ACTIVE_SECONDS which clients were revoked lately
(one query for all clients, rather than one per client: a practice calls every few
seconds or minutes, so a look-up kept per client for ACTIVE_SECONDS was a query on
almost every request once there were thousands of them). The DPoP check on the event
loop asks from memory alone (`in_memory=True`) and starts the poll in the background
once the last one is POLL_AHEAD_SECONDS old (`poll_ahead`), so that a request never
waits for it unless the poll is overdue. Routes that register or
revoke clients require a recent second factor
(rempart.auth.access.require_recent_second_factor).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.orm import Session as DbSession

from rempart.audit.records import LONG_DIGITS
from rempart.auth.errors import (
    ClientAuthFailed,
    InvalidInput,
    NotFound,
    NotInMemory,
    NotPermitted,
    RevocationPollDue,
)
from rempart.auth.events import EventKind, SecurityEvent, SecurityEventSink
from rempart.auth.lru import API_CLIENTS_KEPT, LruMap
from rempart.auth.models import ApiClient
from rempart.auth.roles import Actor, can_manage_api_clients
from rempart.auth.tokens import new_token, token_hash
from rempart.clock import Clock

MAX_NAME = 100
MAX_CLIENT_ID = 40
_DUMMY_HASH = token_hash("rempart-no-such-client")
# How long a worker process may go on without asking which clients were revoked (the
# revoking process knows at once): a revoked client's tokens stop everywhere within
# this, against a token lifetime of minutes.
ACTIVE_SECONDS = 2.0
# A poll is started in the background once the last one is this old: done (a few ms)
# long before it is due, so the checks answered from memory never wait on it. The
# bound above is unchanged: an answer from memory needs a poll begun < ACTIVE_SECONDS ago.
POLL_AHEAD_SECONDS = ACTIVE_SECONDS / 2
ACTIVE_CACHE_SIZE = API_CLIENTS_KEPT
# Each poll asks for the revocations since the previous one began, less this much:
# revoked_at is written by the revoking process's clock, which may lag this one's.
REVOCATION_SKEW = dt.timedelta(seconds=60)


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
_REVOKED_SINCE = select(_TABLE.c.client_id).where(_TABLE.c.revoked_at >= bindparam("since"))


def _info(row: ApiClient | Row[Any]) -> ApiClientInfo:
    return ApiClientInfo(id=row.id, client_id=row.client_id,
                         organisation_id=row.organisation_id, name=row.name,
                         created_at=row.created_at, revoked_at=row.revoked_at)


def new_client_id() -> str:
    """A random client id (128 bits, hex) with no run of 13 digits: the audit log drops
    any detail value holding one (it could be a NIR), and about 2 % of random hex ids
    hold one, whose operators' actions were then recorded without their client."""
    while True:
        client_id = "rc_" + secrets.token_hex(16)
        if not LONG_DIGITS.search(client_id):
            return client_id


class ApiClientService:
    def __init__(self, *, engine: Engine, clock: Clock, events: SecurityEventSink) -> None:
        self._engine = engine
        self._clock = clock
        self._events = events
        self._active: LruMap[str, bool] = LruMap(ACTIVE_CACHE_SIZE)  # client id -> active
        # When revocations were last asked for: monotonic, and wall-clock (the query's).
        self._polled: tuple[float, dt.datetime] | None = None
        self._polling = threading.Lock()  # one poll at a time; the others wait for it
        self.polls = 0  # polls made (for benchmarks and tests)

    def register(self, *, actor: Actor, organisation_id: int, name: str) -> RegisteredClient:
        if not can_manage_api_clients(actor, organisation_id=organisation_id):
            raise NotPermitted("register API clients for this organisation")
        name = name.strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise InvalidInput("name", f"1 to {MAX_NAME} printable characters")
        secret = new_token()
        row = ApiClient(client_id=new_client_id(), organisation_id=organisation_id,
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
        self._active.put(client_id, False)
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
            self._active.put(info.client_id, False)
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

    def for_operator(self, *, actor: Actor, client_id: str | None = None,
                     organisation_id: int | None = None) -> list[ApiClientInfo]:
        """The security console's view: one client by id, or an organisation's clients,
        revoked ones included; operators only."""
        if not actor.role.is_operator:
            raise NotPermitted("see API clients from the security console")
        if client_id is None and organisation_id is None:
            return []
        query = select(ApiClient).order_by(ApiClient.id)
        if client_id is not None:
            query = query.where(ApiClient.client_id == client_id[:MAX_CLIENT_ID])
        if organisation_id is not None:
            query = query.where(ApiClient.organisation_id == organisation_id)
        with DbSession(self._engine) as db:
            return [_info(r) for r in db.scalars(query.limit(200))]

    def authenticate(self, *, client_id: str, client_secret: str) -> ApiClientInfo:
        """The active client with this id and secret, or ClientAuthFailed."""
        row = self.active(client_id) if 0 < len(client_id) <= MAX_CLIENT_ID else None
        expected = row[1] if row is not None else _DUMMY_HASH
        if not hmac.compare_digest(token_hash(client_secret[:512]), expected) or row is None:
            raise ClientAuthFailed
        return row[0]

    def is_active(self, client_id: str, *, in_memory: bool = False) -> bool:
        """Whether the client may still call the API: asked on every API request.

        What the process learnt of a client is kept (a revoked client stays revoked);
        at most every ACTIVE_SECONDS it asks which clients were revoked since its last
        poll (`_forget_revoked`), so other worker processes stop a revoked client's
        tokens within ACTIVE_SECONDS; `revoke` marks it at once in its own process.
        `in_memory`: NotInMemory where the client is unknown or the poll is due.
        """
        if in_memory:
            return self._known_active(client_id)
        self._forget_revoked()
        known = self._active.get(client_id)
        if known is not None:
            return known
        # Read after the poll: a revocation committed since is in the row read here,
        # or in the next poll's answer.
        active = self.active(client_id) is not None
        self._active.put(client_id, active)
        return active

    def _known_active(self, client_id: str) -> bool:
        polled = self._polled
        if polled is None or self._clock.monotonic() - polled[0] >= ACTIVE_SECONDS:
            raise RevocationPollDue("revocation poll due")
        known = self._active.get(client_id)
        if known is None:
            raise NotInMemory("client not known to this process")
        return known

    def poll_ahead_due(self) -> bool:
        """Whether `poll_ahead` would poll: the last poll is POLL_AHEAD_SECONDS old and
        none is running (asked on the event loop: memory only)."""
        polled = self._polled
        return (polled is not None and not self._polling.locked()
                and self._clock.monotonic() - polled[0] >= POLL_AHEAD_SECONDS)

    def poll_ahead(self) -> None:
        """The revocation poll, before it is due (for a background thread): nothing if
        another poll is running or one began less than POLL_AHEAD_SECONDS ago."""
        if not self._polling.acquire(blocking=False):
            return
        try:
            self._poll_if_older(POLL_AHEAD_SECONDS)
        finally:
            self._polling.release()

    def _forget_revoked(self) -> None:
        """Every ACTIVE_SECONDS: the clients revoked since the last poll began (less
        REVOCATION_SKEW) are marked revoked here. The first poll has nothing to mark.
        A poll due while another runs waits for that one rather than make its own."""
        polled = self._polled
        if polled is not None and self._clock.monotonic() - polled[0] < ACTIVE_SECONDS:
            return
        with self._polling:
            self._poll_if_older(ACTIVE_SECONDS)

    def _poll_if_older(self, seconds: float) -> None:
        """The poll itself, under `_polling`, unless one began less than `seconds` ago."""
        now = self._clock.monotonic()
        polled = self._polled
        if polled is not None and now - polled[0] < seconds:
            return
        started = self._clock.now()
        if polled is not None:
            with self._engine.connect() as conn:
                revoked = list(conn.scalars(_REVOKED_SINCE,
                                            {"since": polled[1] - REVOCATION_SKEW}))
            for client_id in revoked:
                self._active.put(client_id, False)
            self.polls += 1
        self._polled = (now, started)

    def active(self, client_id: str) -> tuple[ApiClientInfo, bytes] | None:
        with self._engine.connect() as conn:
            row = conn.execute(_ACTIVE, {"client_id": client_id}).one_or_none()
        return (_info(row), row.secret_hash) if row is not None else None

    def _emit(self, kind: EventKind, info: ApiClientInfo, actor: Actor) -> None:
        self._events.emit(SecurityEvent(kind, self._clock.now(), account_id=actor.account_id,
                                        organisation_id=info.organisation_id,
                                        client_id=info.client_id))
