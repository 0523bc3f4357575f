"""Where DPoP proofs' replay entries live, chosen in one place from the settings.

Every API request carries a fresh proof whose (key, jti) pair must be accepted once
while the proof is fresh. Recording it in the database cost one INSERT and COMMIT per
request, on SQLite under the write lock the check journal also takes
(docs/performance.md, "Authentication cost"). So, like the login throttle and the
guard's state:

- a Redis URL configured (`REMPART_REPLAY_STORAGE`, else `REMPART_REDIS_URL`): one
  `SET key 1 NX PX` per proof in Redis, shared by every worker. Redis that does not
  answer refuses the request (ReplayCheckUnavailable, 503): a proof whose single use
  cannot be recorded is never accepted;
- otherwise, in the embedded default (one worker on SQLite): in the process's memory,
  refusing every proof made before the store itself (see MemoryReplayCache);
- otherwise (several workers without Redis, or PostgreSQL where uvicorn may run several
  workers however REMPART_WORKERS is set): the database table, as before.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import threading

import redis
import structlog
from sqlalchemy import Engine

from rempart.auth.config import AuthSettings
from rempart.auth.errors import ReplayCheckUnavailable
from rempart.auth.replay import DbReplayCache, ProofReplayCache
from rempart.clock import Clock
from rempart.core.errors import ConfigurationError
from rempart.guard.config import REDIS_SCHEMES
from rempart.ratelimit import MEMORY_URIS

log = structlog.get_logger(__name__)

# Workers' clocks may differ by a little: a proof still fresh by a slower worker's clock
# must still find its entry, so Redis keeps each a few seconds past the proof's end.
SKEW_MARGIN_MS = 5_000
REDIS_TIMEOUT_S = 0.5


class MemoryReplayCache:
    """Replay entries in this process, for one worker: a dict of key → end of freshness
    and a heap of the same ends, so expired entries leave in order (a few per request,
    never a scan of the whole store).

    An entry is kept until its `expires_at` has passed: by then the verifier refuses its
    proof on `iat` alone, so forgetting it opens nothing. The store thus holds at most
    the proofs of one window (two, with clients ahead of the clock).

    Restart safety: the store begins empty, so a proof accepted by the previous process
    could be replayed to this one while still fresh. It therefore refuses every proof
    made (`iat`) before the store was created. A client makes a fresh proof per request,
    so only a request in flight across a restart (or made within the first second, as
    `iat` is whole seconds, or by a client whose clock is behind) gets one 401.
    """

    in_process = True

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._since = clock.now().timestamp()
        self._lock = threading.Lock()
        self._ends: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []

    def first_use(self, key: bytes, *, issued_at: dt.datetime,
                  expires_at: dt.datetime) -> bool:
        if issued_at.timestamp() < self._since:
            return False  # perhaps accepted by the process before this one
        end = expires_at.timestamp()
        now = self._clock.now().timestamp()
        with self._lock:
            self._purge(now)
            if key in self._ends:
                return False
            self._ends[key] = end
            heapq.heappush(self._heap, (end, key))
        return True

    def __len__(self) -> int:
        return len(self._ends)

    def _purge(self, now: float) -> None:
        heap, ends = self._heap, self._ends
        while heap and heap[0][0] < now:
            _, key = heapq.heappop(heap)
            del ends[key]  # a key is pushed once, only while absent from `ends`


class RedisReplayCache:
    """Replay entries in Redis, shared by every worker: SET NX, expiring with the proof."""

    in_process = False

    def __init__(self, client: redis.Redis, *, prefix: str, clock: Clock) -> None:
        self._client = client
        self._prefix = f"{prefix}:".encode()
        self._clock = clock

    @classmethod
    def connect(cls, uri: str, *, prefix: str, clock: Clock,
                timeout_s: float = REDIS_TIMEOUT_S) -> RedisReplayCache:
        client = redis.Redis.from_url(uri, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s)
        return cls(client, prefix=prefix, clock=clock)

    def first_use(self, key: bytes, *, issued_at: dt.datetime,
                  expires_at: dt.datetime) -> bool:
        del issued_at  # Redis outlives the worker's restarts
        left_ms = (expires_at - self._clock.now()).total_seconds() * 1000
        ttl_ms = max(1, math.ceil(left_ms)) + SKEW_MARGIN_MS
        try:
            stored = self._client.set(self._prefix + key, b"1", nx=True, px=ttl_ms)
        except redis.RedisError as exc:
            log.warning("replay store unavailable", error_type=type(exc).__name__)
            raise ReplayCheckUnavailable from exc
        return bool(stored)


def build_proof_replay_cache(settings: AuthSettings, *, workers: int, sqlite: bool,
                             engine: Engine, clock: Clock) -> ProofReplayCache:
    """The store the settings call for (see the module docstring). Build it once per
    app: the memory store holds the entries."""
    uri = settings.replay_storage
    if uri.startswith(REDIS_SCHEMES):
        return RedisReplayCache.connect(uri, prefix=settings.replay_prefix, clock=clock)
    if uri not in MEMORY_URIS:
        raise ConfigurationError("REMPART_REPLAY_STORAGE must be memory:// or a redis:// URI")
    if workers == 1 and sqlite:
        return MemoryReplayCache(clock=clock)
    return DbReplayCache(engine=engine, clock=clock)
