"""Round trips to Redis for the guard: writes queued until the next trip, one command each.

Each Redis command costs redis-py about 0.1 ms of CPU to pack, send and parse, and each
round trip a system call pair on top; the guard once made about eleven trips per check.
Writes whose reply nothing reads (a saved profile, a remembered patient, a pending
claim, counts nobody reads back in the same step) are queued here, and ride at the head
of the next trip, so Redis applies them before that trip's reads: what a check reads
after its own writes is what it would have read had they been sent at once. The
guard's calls are serialised (CheckGate holds a lock around each), so one queue per
process keeps them in order.

A trip is one command: the commands go as one JSON argument of a script that runs them
in order and returns their replies (redis-py packs each argument, and parses each
reply, in Python: about a microsecond an argument, tens of them a command). "SLIDE" is
the sliding-window counters' step (rempart.guard.counters). EVAL, not EVALSHA: a trip
that met NOSCRIPT could not be replayed blindly, and Redis caches the compiled script.
(The script names its keys inside its argument: fine on one Redis server, which is what
rempart supports, not on a cluster.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import redis

from rempart.guard.errors import GuardUnavailable

Command = tuple[Any, ...]

# ARGV[1]: the commands, a JSON list of lists (name, then arguments). SLIDE's arguments:
# per window, its current and previous bucket keys, expiry, amount: `limits`'
# incr-with-expiry (a read when the amount is 0), then the previous bucket's count.
BATCH_LUA = """
local function slide(c)
    local out = {}
    for i = 2, #c, 4 do
        local key, amount = c[i], c[i + 3]
        local current
        if amount > 0 then
            current = redis.call("incrby", key, amount)
            if current == amount then
                redis.call("expire", key, c[i + 2])
            end
        else
            current = tonumber(redis.call("get", key) or 0)
        end
        out[#out + 1] = current
        out[#out + 1] = tonumber(redis.call("get", c[i + 1]) or 0)
    end
    return out
end

local replies = {}
for n, c in ipairs(cjson.decode(ARGV[1])) do
    if c[1] == "SLIDE" then
        replies[n] = slide(c)
    else
        replies[n] = redis.call(unpack(c))
    end
end
return replies
"""


class Trips:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._queued: list[Command] = []
        self._lock = threading.Lock()
        # One connection of the client's pool, held: the trips are serialised, and
        # redis-py's per-command path (pool, retries, metrics) cost more than the trip.
        self._connection: Any = None
        self._pid = os.getpid()

    def later(self, *commands: Command) -> None:
        """Queue writes for the next trip (their replies are checked, not read)."""
        with self._lock:
            self._queued.extend(commands)

    def run(self, operation: str, commands: Sequence[Command]) -> list[Any]:
        """Send the queued writes, then `commands`, in one command; the replies to
        `commands`. Any failure (the queued writes' too) is GuardUnavailable."""
        with self._lock:
            queued, self._queued = self._queued, []
            if not queued and not commands:
                return []
            payload = orjson.dumps([*queued, *commands], default=_text)
            if self._pid != os.getpid():
                # A forked worker: the parent's socket is not ours to use or close.
                self._connection, self._pid = None, os.getpid()
            connection = self._connection
            try:
                if connection is None:
                    connection = self._connection = self._client.connection_pool.get_connection()
                connection.send_packed_command(
                    connection.pack_command("EVAL", BATCH_LUA, 0, payload))
                replies = connection.read_response()
            except BaseException as exc:
                # Whatever was sent or half read, the next trip starts on a new socket
                # (no retry: a check waits at most one timeout, then fails closed).
                if connection is not None:
                    connection.disconnect()
                if isinstance(exc, redis.RedisError):
                    raise GuardUnavailable(operation) from exc
                raise
        return list(replies[len(queued):])

    def flush(self, operation: str) -> None:
        self.run(operation, ())


def _text(value: object) -> str:
    """The guard's stored values are JSON (rempart.guard.codec): UTF-8 text."""
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"not a Redis argument: {type(value).__name__}")
