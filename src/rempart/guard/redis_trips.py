"""Round trips to Redis for the guard: writes queued until the next trip, one pipeline each.

Each Redis command costs redis-py about 0.1 ms of CPU to pack, send and parse, and each
round trip a system call pair on top; the guard once made about eleven trips per check.
Writes whose reply nothing reads (a saved profile, a remembered patient, a pending
claim, counts nobody reads back in the same step) are queued here, and ride at the head
of the next trip's pipeline, so Redis applies them before that trip's reads: what a
check reads after its own writes is what it would have read had they been sent at once.
The guard's calls are serialised (CheckGate holds a lock around each), so one queue per
process keeps them in order.

Scripts go as EVAL, not EVALSHA: a pipeline that met NOSCRIPT half-way could not be
replayed (its increments were applied), and Redis caches the compiled script anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis

from rempart.guard.errors import GuardUnavailable

Command = tuple[Any, ...]


class Trips:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._queued: list[Command] = []
        self._lock = threading.Lock()

    def later(self, *commands: Command) -> None:
        """Queue writes for the next trip (their replies are checked, not read)."""
        with self._lock:
            self._queued.extend(commands)

    def run(self, operation: str, commands: Sequence[Command]) -> list[Any]:
        """Send the queued writes, then `commands`, in one pipeline; the replies to
        `commands`. Any failure (the queued writes' too) is GuardUnavailable."""
        with self._lock:
            queued, self._queued = self._queued, []
        if not queued and not commands:
            return []
        try:
            pipe = self._client.pipeline(transaction=False)
            for command in (*queued, *commands):
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise GuardUnavailable(operation) from exc
        return list(replies[len(queued):])

    def flush(self, operation: str) -> None:
        self.run(operation, ())
