"""Round trips to Redis for the guard: writes queued until the next trip, one command each.

Each Redis command costs redis-py about 0.1 ms of CPU to pack, send and parse, and each
round trip a system call pair on top; the guard once made about eleven trips per check.
Writes whose reply nothing reads (a saved profile, a remembered patient, a pending
claim, counts nobody reads back in the same step) are queued here, and ride at the head
of the next trip, so Redis applies them before that trip's reads: what a check reads
after its own writes is what it would have read had they been sent at once.

Lanes keep that true with several threads in one process. Every guard call about an
account runs holding its account's lane (`serial`, taken by rempart.guard.gate): one
lock, and one queue of writes, per lane. So the calls about one account (its sessions,
its pending claims) are in order, and each trip of the lane carries the writes queued
by the calls before it: a check reads its own step's writes and those of every check
of its account already decided in this process, while checks of accounts in other
lanes run at once, each trip on a connection of its own. Writes to keys that several
accounts share (the platform's and the networks' counts) ride with their account's
next trip, the same check's look-up's as a rule: they are atomic increments, whose
order does not matter. What is not about one account (a session's step-up or end,
which reach the guard by session) holds every lane. Outside `serial` (the guard called
directly: tests, scripts) each trip holds every lane for itself.

A trip is one command: the commands go as one JSON argument of a script that runs them
in order and returns the replies of those not queued (redis-py packs each argument, and
parses each reply, in Python: about a microsecond an argument, tens of them a command).
"SLIDE" is the sliding-window counters' step (rempart.guard.counters), "SETV" a stored
value's write (`setv`: the value rides as a script argument of its own, not escaped
inside the JSON). Every argument is text: Redis's script engine formats a number with
"%.17g" before handing it to a command, and decodes one in the JSON with strtod, which
cost more than most commands (docs/deploy.md, "Redis's own work per check"). The trip
is an EVALSHA, packed here (the payload, the count of queued writes, the values:
redis-py's packing costs more than the trip's own work); a server that does not hold
the script answers NOSCRIPT
without running anything, and the same trip goes again as an EVAL of the script, which
loads it. (The script names its keys inside its argument: fine on one Redis server,
which is what rempart supports, not on a cluster.)
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import redis

from rempart.guard.errors import GuardUnavailable

Command = tuple[Any, ...]

# Lanes per process: checks of accounts in different lanes run their guard calls (and
# Redis trips) at once; two accounts sharing one wait for each other.
LANES = 64

# ARGV[1]: the commands, a JSON list of lists (name, then arguments, every one a string:
# a number handed to redis.call is formatted with "%.17g", which cost Redis 7.0 more than
# the command it went to). ARGV[2]: how many of them lead the list as queued writes,
# whose replies are left out of the script's. ARGV[3...]: the values of the SETV
# commands, in their order (a stored value inside the JSON would be escaped there, then
# scanned by its decoder character by character). SETV: key, expiry, value (a SET ... EX).
# SLIDE: per window, its current and previous bucket keys, expiry, amount ("0" reads):
# `limits`' incr-with-expiry, then every bucket left to read in one MGET; per window its
# current count (an integer, or the MGET's text or nil) and its previous bucket's.
BATCH_LUA = """
local function slide(c)
    local out, keys, slots = {}, {}, {}
    for i = 2, #c, 4 do
        local key, amount = c[i], c[i + 3]
        if amount == "0" then
            keys[#keys + 1] = key
            slots[#slots + 1] = #out + 1
            out[#out + 1] = false
        else
            local current = redis.call("incrby", key, amount)
            if current == tonumber(amount) then
                redis.call("expire", key, c[i + 2])
            end
            out[#out + 1] = current
        end
        keys[#keys + 1] = c[i + 1]
        slots[#slots + 1] = #out + 1
        out[#out + 1] = false
    end
    local found = redis.call("mget", unpack(keys))
    for j = 1, #slots do
        out[slots[j]] = found[j]
    end
    return out
end

local queued = tonumber(ARGV[2])
local value = 3
local replies = {}
for n, c in ipairs(cjson.decode(ARGV[1])) do
    local reply
    local name = c[1]
    if name == "SLIDE" then
        reply = slide(c)
    elseif name == "SETV" then
        reply = redis.call("set", c[2], ARGV[value], "ex", c[3])
        value = value + 1
    else
        reply = redis.call(unpack(c))
    end
    if n > queued then
        replies[n - queued] = reply
    end
end
return replies
"""


class Lane:
    """One order of trips: a lock, held across each guard call of the keys it serves
    (and their trips), and the writes waiting for its next trip."""

    __slots__ = ("lock", "queued")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued: list[Command] = []


class Trips:
    def __init__(self, client: redis.Redis, *, lanes: int = LANES) -> None:
        self._client = client
        self._lanes = tuple(Lane() for _ in range(lanes))
        # The lanes this thread holds (serial), in order; none outside. A plain
        # threading.local, read with a default: a subclass of it compiled with mypyc is a
        # native class whose attributes every thread would share.
        self._held = threading.local()
        # Connections of the client's pool, held between trips and used by one trip at a
        # time: redis-py's per-command path (pool, health check, retries, metrics) costs
        # more than the trip. As many as trips ever ran at once (list.pop and append are
        # atomic): threads that come and go leave none behind.
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def lane(self, key: str) -> Lane:
        """The lane of a key (an account): the same for the process's life."""
        return self._lanes[hash(key) % len(self._lanes)]

    @contextmanager
    def serial(self, key: str | None) -> Iterator[None]:
        """Hold `key`'s lane (None: every lane, in order) while calling the guard about it:
        its trips, and the writes queued in it, are then in the order of the calls, and
        the writes ride with the next trip of the same lane. Not reentrant."""
        if getattr(self._held, "lanes", ()):
            raise RuntimeError("Trips.serial: this thread already holds a lane")
        lanes = self._lanes if key is None else (self.lane(key),)
        taken: list[Lane] = []
        try:
            for lane in lanes:
                lane.lock.acquire()
                taken.append(lane)
            self._held.lanes = lanes
            yield
        finally:
            self._held.lanes = ()
            for lane in reversed(taken):
                lane.lock.release()

    def later(self, *commands: Command) -> None:
        """Queue writes for the next trip of this lane (their replies are checked, not
        read); outside `serial`, for the next trip of any."""
        held: tuple[Lane, ...] = getattr(self._held, "lanes", ())
        if held:
            held[0].queued.extend(commands)
            return
        lane = self._lanes[0]
        with lane.lock:
            lane.queued.extend(commands)

    def run(self, operation: str, commands: Sequence[Command]) -> list[Any]:
        """Send the queued writes, then `commands`, in one command; the replies to
        `commands`. Any failure (the queued writes' too) is GuardUnavailable.

        Inside `serial`, the writes queued in the lanes held; outside, every lane is held
        for the trip (one caller's order, as before lanes)."""
        held: tuple[Lane, ...] = getattr(self._held, "lanes", ())
        if held:
            return self._run(held, operation, commands)
        with self.serial(None):
            return self._run(self._lanes, operation, commands)

    def _run(self, lanes: Sequence[Lane], operation: str,
             commands: Sequence[Command]) -> list[Any]:
        queued: list[Command] = []
        for lane in lanes:
            if lane.queued:
                queued += lane.queued
                lane.queued = []
        if not queued and not commands:
            return []
        values: list[bytes] = []
        plain: list[Command] = []
        for command in (*queued, *commands):
            if command[0] == "SETV":
                values.append(command[3])
                command = command[:3]
            plain.append(command)
        payload = orjson.dumps(plain)
        arguments = (payload, str(len(queued)).encode(), *values)
        connection = self._connection(operation)
        try:
            connection.send_packed_command([_packed(b"EVALSHA", BATCH_SHA, arguments)],
                                           check_health=False)
            try:
                replies = connection.read_response()
            except redis.exceptions.NoScriptError:
                # Nothing ran (a new or flushed server): the same trip, with the script.
                connection.send_packed_command([_packed(b"EVAL", BATCH_SCRIPT, arguments)],
                                               check_health=False)
                replies = connection.read_response()
        except BaseException as exc:
            # Whatever was sent or half read, the next trip starts on a new socket
            # (no retry: a check waits at most one timeout, then fails closed). The
            # queued writes are lost with it, as a write that never reached Redis is.
            connection.disconnect()
            self._idle.append(connection)
            if isinstance(exc, redis.RedisError):
                raise GuardUnavailable(operation) from exc
            raise
        self._idle.append(connection)
        return list(replies)

    def _connection(self, operation: str) -> Any:
        if self._pid != os.getpid():
            # A forked worker: the parent's sockets are not ours to use or close.
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            try:
                return self._client.connection_pool.get_connection()
            except redis.RedisError as exc:
                raise GuardUnavailable(operation) from exc

    def flush(self, operation: str) -> None:
        self.run(operation, ())


BATCH_SCRIPT = BATCH_LUA.encode()
BATCH_SHA = hashlib.sha1(BATCH_SCRIPT, usedforsecurity=False).hexdigest().encode()


def setv(key: str, expiry: str, value: bytes) -> Command:
    """SET key value EX expiry, the value sent as a script argument of its own."""
    return ("SETV", key, expiry, value)


def _packed(command: bytes, script: bytes, arguments: Sequence[bytes]) -> bytes:
    """`command script 0 arguments...` in the Redis protocol (RESP): an array of bulk
    strings."""
    parts = [b"*%d\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$1\r\n0\r\n" % (
        3 + len(arguments), len(command), command, len(script), script)]
    for argument in arguments:
        parts.append(b"$%d\r\n%b\r\n" % (len(argument), argument))
    return b"".join(parts)
