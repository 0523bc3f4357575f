"""Guard state shared by several machines through Redis.

Counters go through `limits`' RedisStorage (pipelined, see rempart.guard.counters);
profiles and sessions are JSON values, patients a bitmap per account, pending claims
a sorted set per account. Every Redis failure becomes GuardUnavailable, so the check
fails closed. Two machines updating the same account at the same instant may lose
one of the two updates to its learnt profile: acceptable for statistics that move
by one check in hundreds; counters, which enforce the ceilings, are atomic.

Suspensions must not be lost that way: a machine that read an account or a session
just before another suspended it would write it back unsuspended (an attacker's
parallel checks through several workers would lift their own suspension). So each
suspension is also a key of its own, written when the suspended state is saved, read
with the state and applied to it, and removed only by an operator's restore
(`lift_account_suspension`) or when the session is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis
from limits.storage import RedisStorage

from rempart.guard import codec
from rempart.guard.counters import SlidingWindows
from rempart.guard.errors import GuardUnavailable
from rempart.guard.limits_check import counter_key
from rempart.guard.patients import FILTER_BITS, GENERATION_S, generation, positions
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState
from rempart.guard.state import MAX_PENDING_PER_ACCOUNT, SESSION_IDLE_S

ACCOUNT_TTL_S = 180 * 86400
T = TypeVar("T")


def _raw(value: object) -> bytes:
    """redis-py types replies loosely; the guard's values are bytes or text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise GuardUnavailable("reading a reply of an unexpected type")


def _account(blob: object, suspension: object) -> AccountProfile | None:
    """A stored profile, suspended if a suspension key stands beside it."""
    if blob is None:
        return None
    profile = codec.load_account(_raw(blob))
    if suspension is not None and not profile.suspended:
        profile.suspended = True
        profile.suspension = codec.load_reasons(_raw(suspension))
    return profile


def _session(blob: object, suspended: object) -> SessionState | None:
    if blob is None:
        return None
    session = codec.load_session(_raw(blob))
    session.suspended = session.suspended or suspended is not None
    return session


class RedisGuardState:
    def __init__(self, client: redis.Redis, storage: RedisStorage, *, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._windows = SlidingWindows(storage)

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

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis.RedisError as exc:
            raise GuardUnavailable(operation) from exc

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self._prefix, kind, *parts))

    def _account_keys(self, account_id: str) -> list[str]:
        return [self._key("acct", account_id), self._key("acct-susp", account_id)]

    def _session_keys(self, session_id: str) -> list[str]:
        hashed = counter_key("s", session_id)
        return [self._key("sess", hashed), self._key("sess-susp", hashed)]

    def account(self, account_id: str) -> AccountProfile | None:
        blob, suspension = self._call("profile read", lambda: self._redis.mget(
            self._account_keys(account_id)))
        return _account(blob, suspension)

    def save_account(self, account_id: str, profile: AccountProfile) -> None:
        self._write("profile write", self._account_writes(account_id, profile))

    def lift_account_suspension(self, account_id: str) -> None:
        self._call("profile write", lambda: self._redis.delete(
            self._key("acct-susp", account_id)))

    def session(self, session_id: str) -> SessionState | None:
        blob, suspended = self._call("session read", lambda: self._redis.mget(
            self._session_keys(session_id)))
        return _session(blob, suspended)

    def save_session(self, session_id: str, session: SessionState) -> None:
        self._write("session write", self._session_writes(session_id, session))

    def drop_session(self, session_id: str) -> None:
        self._call("session drop", lambda: self._redis.delete(*self._session_keys(session_id)))

    def load_pair(self, account_id: str,
                  session_id: str) -> tuple[AccountProfile | None, SessionState | None]:
        account, suspension, session, suspended = self._call(
            "state read", lambda: self._redis.mget(
                [*self._account_keys(account_id), *self._session_keys(session_id)]))
        return _account(account, suspension), _session(session, suspended)

    def save_pair(self, account_id: str, profile: AccountProfile, session_id: str,
                  session: SessionState) -> None:
        self._write("state write", [*self._account_writes(account_id, profile),
                                    *self._session_writes(session_id, session)])

    def _write(self, operation: str, writes: list[tuple[str, bytes, int]]) -> None:
        """SET each (key, value, expiry in seconds), in one round trip."""
        def run() -> None:
            pipe = self._redis.pipeline(transaction=False)
            for key, value, expiry in writes:
                pipe.set(key, value, ex=expiry)
            pipe.execute()

        self._call(operation, run)

    def _account_writes(self, account_id: str,
                        profile: AccountProfile) -> list[tuple[str, bytes, int]]:
        state, suspension = self._account_keys(account_id)
        writes = [(state, codec.dump(profile), ACCOUNT_TTL_S)]
        if profile.suspended:  # never removed here: see the module docstring
            writes.append((suspension, codec.dump_reasons(profile.suspension), ACCOUNT_TTL_S))
        return writes

    def _session_writes(self, session_id: str,
                        session: SessionState) -> list[tuple[str, bytes, int]]:
        state, suspended = self._session_keys(session_id)
        writes = [(state, codec.dump(session), SESSION_IDLE_S)]
        if session.suspended:
            writes.append((suspended, b"1", SESSION_IDLE_S))
        return writes

    def patient_seen(self, account_id: str, person_key: str, ts: float) -> bool:
        bits = positions(account_id, person_key)
        gen = generation(ts)

        def run() -> list[int]:
            pipe = self._redis.pipeline(transaction=False)
            for g in (gen, gen - 1):
                for b in bits:
                    pipe.getbit(self._key("pat", account_id, str(g)), b)
            return list(pipe.execute())

        found = self._call("patient read", run)
        return all(found[:len(bits)]) or all(found[len(bits):])

    def remember_patient(self, account_id: str, person_key: str, ts: float) -> None:
        key = self._key("pat", account_id, str(generation(ts)))
        bits = positions(account_id, person_key)

        def run() -> None:
            pipe = self._redis.pipeline(transaction=False)
            for b in bits:
                pipe.setbit(key, b % FILTER_BITS, 1)
            pipe.expire(key, 2 * GENERATION_S + 86400)
            pipe.execute()

        self._call("patient write", run)

    def add_pending_claim(self, account_id: str, reference: str, deadline: float,
                          check: PendingCheck) -> None:
        queue = self._key("pc", account_id)

        def run() -> None:
            pipe = self._redis.pipeline(transaction=False)
            # Relative expiry: the guard's clock may be a drill's, not the server's.
            pipe.set(self._key("pr", reference), codec.dump_pending(account_id, check),
                     ex=int(deadline - check.ts) + 86400)
            pipe.zadd(queue, {reference: deadline})
            # Beyond the cap, the oldest pending checks are forgotten, not counted.
            pipe.zremrangebyrank(queue, 0, -MAX_PENDING_PER_ACCOUNT - 1)
            pipe.expire(queue, ACCOUNT_TTL_S)
            pipe.execute()

        self._call("claim write", run)

    def settle_claim(self, reference: str) -> tuple[str, PendingCheck] | None:
        blob = self._call("claim read", lambda: self._redis.getdel(self._key("pr", reference)))
        if blob is None:
            return None
        account_id, check = codec.load_pending(_raw(blob))
        self._call("claim write", lambda: self._redis.zrem(self._key("pc", account_id),
                                                           reference))
        return account_id, check

    def matured_claims(self, account_id: str, ts: float) -> int:
        queue = self._key("pc", account_id)

        def run() -> int:
            refs = [_raw(r).decode() for r in self._redis.zrangebyscore(queue, "-inf", ts)]
            if not refs:
                return 0
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrem(queue, *refs)
            for ref in refs:
                pipe.delete(self._key("pr", ref))
            replies = pipe.execute()
            # Only those still pending (not claimed meanwhile) count as unclaimed.
            return sum(1 for r in replies[1:] if r)

        return self._call("claim maturity", run)
