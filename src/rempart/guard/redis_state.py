"""Guard state shared by several machines through Redis.

Counters are `limits`' RedisStorage buckets (see rempart.guard.counters); profiles and
sessions are JSON values, patients a bitmap per account, pending claims a sorted set
per account. Every Redis failure becomes GuardUnavailable, so the check fails closed.

Round trips (rempart.guard.redis_trips): a check step asks ahead (`ask_ahead`) what it
will read, and `load_pair` fetches it with the state in one pipeline; its writes are
queued and ride with the next trip. So a check that discloses makes three: its state
and counts before the look-up, the look-up's reads after it (carrying the first step's
writes), and the second step's writes; containments and campaign reads add theirs.

Two machines updating the same account at the same instant may lose
one of the two updates to its learnt profile: acceptable for statistics that move
by one check in hundreds; counters, which enforce the ceilings, are atomic.

Suspensions must not be lost that way: a machine that read an account or a session
just before another suspended it would write it back unsuspended (an attacker's
parallel checks through several workers would lift their own suspension). So each
suspension is also a key of its own, written when the suspended state is saved, read
with the state and applied to it, and removed only by an operator's restore
(`lift_account_suspension`) or when the session is dropped. A session's suspension key
outlives its state (kept as long as an account's, not the session's 12 h): an API
key suspended, idle until its state expired, is found suspended again and kept on its
client's profile (`AccountProfile.suspended_keys`) even if a stale write of the profile
lost it, until an operator's restore drops the key's session.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import redis
from limits.storage import RedisStorage

from rempart.guard import codec
from rempart.guard.counters import SlidingWindows
from rempart.guard.errors import GuardUnavailable
from rempart.guard.limits_check import counter_key
from rempart.guard.netwatch_redis import RedisNetworkLedger
from rempart.guard.patients import FILTER_BITS, GENERATION_S, generation, positions
from rempart.guard.profile import (
    MAX_SUSPENDED_KEYS,
    AccountProfile,
    PendingCheck,
    SessionState,
)
from rempart.guard.redis_trips import Command, Trips, setv
from rempart.guard.state import MAX_PENDING_PER_ACCOUNT, SESSION_IDLE_S

ACCOUNT_TTL_S = 180 * 86400
PATIENT_TTL_S = 2 * GENERATION_S + 86400
# A trip's numbers go as text (rempart.guard.redis_trips).
_ACCOUNT_TTL = str(ACCOUNT_TTL_S)
_PATIENT_TTL = str(PATIENT_TTL_S)
_SESSION_TTL = str(SESSION_IDLE_S)
_PENDING_BEYOND = str(-MAX_PENDING_PER_ACCOUNT - 1)


def _raw(value: object) -> bytes:
    """redis-py types replies loosely; the guard's values are bytes or text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise GuardUnavailable("reading a reply of an unexpected type")


def _account(blob: object, suspension: object,
             kept: AccountProfile | None = None) -> AccountProfile | None:
    """A stored profile (`kept` if given: the same, not decoded again), suspended if a
    suspension key stands beside it."""
    if blob is None:
        return None
    profile = kept if kept is not None else codec.load_account(_raw(blob))
    if suspension is not None and not profile.suspended:
        profile.suspended = True
        profile.suspension = codec.load_reasons(_raw(suspension))
    return profile


def _keep_key(profile: AccountProfile, session_id: str) -> None:
    """A suspended session whose state expired: kept on its account's profile (a stale
    write may have lost it there; see the module docstring)."""
    if session_id not in profile.suspended_keys and session_id not in profile.keys_with_client:
        profile.suspended_keys = (*profile.suspended_keys, session_id)[-MAX_SUSPENDED_KEYS:]


def _sets(writes: list[tuple[str, bytes, str]]) -> list[Command]:
    """SET commands for (key, value, expiry in seconds as text) writes."""
    return [setv(key, expiry, value) for key, value, expiry in writes]


def _session(blob: object, suspended: object,
             kept: SessionState | None = None) -> SessionState | None:
    if blob is None:
        return None
    session = kept if kept is not None else codec.load_session(_raw(blob))
    session.suspended = session.suspended or suspended is not None
    return session


class _Step:
    """A guard step's reads asked ahead and fetched, per thread: a step (before_check,
    after_lookup) runs in one thread, and threads run steps of other accounts at once."""

    def __init__(self) -> None:
        self.ahead: list[Command] = []
        self.asked: tuple[str, str | None, float, bool] | None = None
        # What the last load_pair fetched ahead: (account, person, ts, seen) and
        # (account, ts, matured references).
        self.seen: tuple[str, str, float, bool] | None = None
        self.matured: tuple[str, float, list[Any]] | None = None
        # What the step's save left for the next step of its check (save_pair, later).
        self.kept: _Kept | None = None


class _Kept:
    """A step's saved state, as objects and as the JSON it sent: the check's next step
    (after the look-up, in the same thread) reads it back, and when Redis returns
    exactly that JSON (no other worker wrote meanwhile) these objects are that state,
    not decoded again. Nothing changes them after the save: each step loads its own."""

    __slots__ = ("account", "account_blob", "profile", "session", "session_blob",
                 "session_id")

    def __init__(self, account: str, account_blob: bytes, profile: AccountProfile,
                 session_id: str, session_blob: bytes, session: SessionState) -> None:
        self.account, self.account_blob, self.profile = account, account_blob, profile
        self.session_id, self.session_blob, self.session = session_id, session_blob, session

    def profile_for(self, account: str, blob: object) -> AccountProfile | None:
        same = account == self.account and blob == self.account_blob
        return self.profile if same else None

    def session_for(self, session_id: str, blob: object) -> SessionState | None:
        same = session_id == self.session_id and blob == self.session_blob
        return self.session if same else None


class RedisGuardState:
    def __init__(self, client: redis.Redis, storage: RedisStorage, *, prefix: str) -> None:
        self._prefix = prefix
        self._trips = Trips(client)
        self._windows = SlidingWindows(storage, trips=self._trips)
        # Per thread, its _Step (_step_here). Not a subclass of threading.local:
        # compiled with mypyc that is a native class whose attributes all threads share.
        self._local = threading.local()

    def _step_here(self) -> _Step:
        step: _Step | None = getattr(self._local, "step", None)
        if step is None:
            step = self._local.step = _Step()
        return step

    @classmethod
    def connect(cls, uri: str, *, prefix: str, timeout_s: float = 0.5) -> RedisGuardState:
        options: dict[str, float] = {"socket_timeout": timeout_s,
                                     "socket_connect_timeout": timeout_s}
        client = redis.Redis.from_url(uri, **options)
        storage = RedisStorage(uri, key_prefix=f"{prefix}-limits", wrap_exceptions=True,
                               socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, storage, prefix=prefix)

    @property
    def windows(self) -> SlidingWindows:
        return self._windows

    @property
    def trips(self) -> Trips:
        return self._trips

    def network_ledger(self) -> RedisNetworkLedger:
        """The organisations seen through the listed shared networks, for every worker."""
        return RedisNetworkLedger(self._trips, prefix=self._prefix)

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self._prefix, kind, *parts))

    def _account_keys(self, account_id: str) -> list[str]:
        return [self._key("acct", account_id), self._key("acct-susp", account_id)]

    def _session_keys(self, session_id: str) -> list[str]:
        hashed = counter_key("s", session_id)
        return [self._key("sess", hashed), self._key("sess-susp", hashed)]

    def account(self, account_id: str) -> AccountProfile | None:
        [(blob, suspension)] = self._trips.run("profile read", [
            ("MGET", *self._account_keys(account_id))])
        return _account(blob, suspension)

    def save_account(self, account_id: str, profile: AccountProfile) -> None:
        self._write("profile write", self._account_writes(account_id, profile))

    def lift_account_suspension(self, account_id: str) -> None:
        self._trips.run("profile write", [("DEL", self._key("acct-susp", account_id))])

    def session(self, session_id: str) -> SessionState | None:
        [(blob, suspended)] = self._trips.run("session read", [
            ("MGET", *self._session_keys(session_id))])
        return _session(blob, suspended)

    def save_session(self, session_id: str, session: SessionState) -> None:
        self._write("session write", self._session_writes(session_id, session))

    def drop_session(self, session_id: str) -> None:
        self._trips.run("session drop", [("DEL", *self._session_keys(session_id))])

    @property
    def asks_ahead(self) -> bool:
        return True

    def serial(self, key: str | None) -> AbstractContextManager[object]:
        return self._trips.serial(key)

    def ask_ahead(self, account_id: str, *, hits: Sequence[tuple[str, int, int]], ts: float,
                  person_key: str | None = None, matured: bool = False) -> None:
        step = self._step_here()
        ahead: list[Command] = []
        count = self._windows.ask_ahead(hits, ts) if hits else None
        if count is not None:
            ahead.append(count)
        if person_key is not None:
            ahead += self._patient_reads(account_id, person_key, ts)
        if matured:
            ahead.append(("ZRANGEBYSCORE", self._key("pc", account_id), "-inf", str(ts)))
        step.ahead = ahead
        step.asked = (account_id, person_key, ts, count is not None)

    def load_pair(self, account_id: str,
                  session_id: str) -> tuple[AccountProfile | None, SessionState | None]:
        step = self._step_here()
        ahead, step.ahead = step.ahead, []
        asked, step.asked = step.asked, None
        kept, step.kept = step.kept, None
        replies = self._trips.run("state read", [
            ("MGET", *self._account_keys(account_id), *self._session_keys(session_id)),
            *ahead])
        account, suspension, session, suspended = replies[0]
        if asked is not None:  # the counts were made: always taken (or taken back)
            self._took_ahead(step, asked, replies[1:])
        if kept is None:
            profile = _account(account, suspension)
            if session is None and suspended is not None and profile is not None:
                _keep_key(profile, session_id)
            return profile, _session(session, suspended)
        return (_account(account, suspension, kept.profile_for(account_id, account)),
                _session(session, suspended, kept.session_for(session_id, session)))

    def _took_ahead(self, step: _Step, asked: tuple[str, str | None, float, bool],
                    replies: list[Any]) -> None:
        account_id, person_key, ts, counted = asked
        if counted:
            self._windows.took_ahead(replies.pop(0))
        if person_key is not None:
            now, before = replies.pop(0), replies.pop(0)
            step.seen = (account_id, person_key, ts, all(now) or all(before))
        if replies:
            step.matured = (account_id, ts, list(replies.pop(0)))

    def save_pair(self, account_id: str, profile: AccountProfile, session_id: str,
                  session: SessionState, *, later: bool = False) -> None:
        self._windows.settle()
        step = self._step_here()
        step.seen = step.matured = None
        account = self._account_writes(account_id, profile)
        session_writes = self._session_writes(session_id, session)
        self._trips.later(*_sets([*account, *session_writes]))
        if later:  # the check's next step reads it back: keep the objects for it
            step.kept = _Kept(account_id, account[0][1], profile, session_id,
                              session_writes[0][1], session)
        else:
            self._trips.flush("state write")

    def _write(self, operation: str, writes: list[tuple[str, bytes, str]]) -> None:
        """SET each (key, value, expiry in seconds), with what is queued, in one trip."""
        self._trips.run(operation, _sets(writes))

    def _account_writes(self, account_id: str,
                        profile: AccountProfile) -> list[tuple[str, bytes, str]]:
        state, suspension = self._account_keys(account_id)
        writes = [(state, codec.dump(profile), _ACCOUNT_TTL)]
        if profile.suspended:  # never removed here: see the module docstring
            writes.append((suspension, codec.dump_reasons(profile.suspension), _ACCOUNT_TTL))
        return writes

    def _session_writes(self, session_id: str,
                        session: SessionState) -> list[tuple[str, bytes, str]]:
        state, suspended = self._session_keys(session_id)
        writes = [(state, codec.dump(session), _SESSION_TTL)]
        if session.suspended:  # outlives the state: see the module docstring
            writes.append((suspended, b"1", _ACCOUNT_TTL))
        return writes

    def flush(self) -> None:
        self._trips.flush("state write")

    def patient_seen(self, account_id: str, person_key: str, ts: float) -> bool:
        step = self._step_here()
        seen, step.seen = step.seen, None
        if seen is not None and seen[:3] == (account_id, person_key, ts):
            return seen[3]
        now, before = self._trips.run("patient read",
                                      self._patient_reads(account_id, person_key, ts))
        return all(now) or all(before)

    def _patient_reads(self, account_id: str, person_key: str, ts: float) -> list[Command]:
        """The person's filter bits in this generation's bitmap and the previous one's."""
        fields: list[Any] = []
        for b in positions(account_id, person_key):
            fields += ("GET", "u1", str(b))
        gen = generation(ts)
        return [("BITFIELD_RO", self._key("pat", account_id, str(g)), *fields)
                for g in (gen, gen - 1)]

    def remember_patient(self, account_id: str, person_key: str, ts: float) -> None:
        key = self._key("pat", account_id, str(generation(ts)))
        fields: list[Any] = []
        for b in positions(account_id, person_key):
            fields += ("SET", "u1", str(b % FILTER_BITS), "1")
        self._trips.later(("BITFIELD", key, *fields), ("EXPIRE", key, _PATIENT_TTL))

    def add_pending_claim(self, account_id: str, reference: str, deadline: float,
                          check: PendingCheck) -> None:
        queue = self._key("pc", account_id)
        self._trips.later(
            # Relative expiry: the guard's clock may be a drill's, not the server's.
            setv(self._key("pr", reference), str(int(deadline - check.ts) + 86400),
                 codec.dump_pending(account_id, check)),
            ("ZADD", queue, str(deadline), reference),
            # Beyond the cap, the oldest pending checks are forgotten, not counted.
            ("ZREMRANGEBYRANK", queue, "0", _PENDING_BEYOND),
            ("EXPIRE", queue, _ACCOUNT_TTL))

    def settle_claim(self, reference: str) -> tuple[str, PendingCheck] | None:
        [blob] = self._trips.run("claim read", [("GETDEL", self._key("pr", reference))])
        if blob is None:
            return None
        account_id, check = codec.load_pending(_raw(blob))
        # Rides with the next trip (on_claim's read of the account, right after).
        self._trips.later(("ZREM", self._key("pc", account_id), reference))
        return account_id, check

    def matured_claims(self, account_id: str, ts: float) -> int:
        queue = self._key("pc", account_id)
        step = self._step_here()
        matured, step.matured = step.matured, None
        if matured is not None and matured[:2] == (account_id, ts):
            found = matured[2]
        else:
            [found] = self._trips.run("claim maturity",
                                      [("ZRANGEBYSCORE", queue, "-inf", str(ts))])
        refs = [_raw(r).decode() for r in found]
        if not refs:
            return 0
        replies = self._trips.run("claim maturity", [
            ("ZREM", queue, *refs), *(("DEL", self._key("pr", ref)) for ref in refs)])
        # Only those still pending (not claimed meanwhile) count as unclaimed.
        return sum(1 for r in replies[1:] if r)
