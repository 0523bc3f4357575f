"""Guard steps run on the event loop, their Redis replies awaited instead of blocked on.

With a database server a check's look-up (the guard's two steps around the SELECT) used
to run in a worker thread, which blocked on each of its round trips and then waited for
the interpreter's lock to go on: about 14 context switches and a dozen futex calls a
check (docs/deploy.md, "Where a scaled-out check's CPU goes"). It may now run in a
greenlet on the loop (SQLAlchemy's `greenlet_spawn`, the mechanism of its asyncio
support): the same synchronous code, which, where it would wait for Redis's reply,
hands that wait to the loop (`wait_readable`) and goes on when the reply is there,
while the loop serves other requests meanwhile.

Two rules follow for code that such a step runs:

- state kept "per thread" is kept per greenlet (`StepLocal`): several checks' steps now
  interleave on the loop's one thread, each in a greenlet of its own (outside, a
  thread's own greenlet stands for the thread, so threads keep theirs as before);
- a lock must never block the loop (`acquire`): a step that finds its lane held waits
  on the loop for it, so the greenlet holding it can go on and release it.

The socket stays redis-py's own blocking one, shared with the threads' trips: only the
wait for it to become readable moves to the loop, the reply is then read as before.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import redis
from greenlet import getcurrent
from sqlalchemy.util.concurrency import await_only, greenlet_spawn, in_greenlet

__all__ = ["StepLocal", "acquire", "await_only", "greenlet_spawn", "on_loop", "wait_readable"]

T = TypeVar("T")
_NAMES = itertools.count()

# A step waiting for a lane held by another check polls for it with growing pauses
# (lanes are held for one step, a few hundred microseconds).
FIRST_PAUSE_S = 0.0001
LONGEST_PAUSE_S = 0.002


def on_loop() -> bool:
    """Whether this code runs in a greenlet on the event loop (see the module docstring)."""
    return bool(in_greenlet())


class StepLocal(Generic[T]):
    """A value per greenlet: per thread outside the loop, per check on it."""

    __slots__ = ("_factory", "_name")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        # Never reused (an id() may be, once its object is gone): a greenlet (a thread's
        # own, for the thread's life) keeps each instance's value under its own name.
        self._name = f"_rempart_step_local_{next(_NAMES)}"

    def get(self) -> T:
        current = getcurrent()
        try:
            value: T = getattr(current, self._name)
        except AttributeError:
            value = self._factory()
            setattr(current, self._name, value)
        return value


def acquire(lock: threading.Lock) -> None:
    """Take `lock`: blocking in a thread, waiting on the loop in a greenlet on it."""
    if lock.acquire(blocking=False):
        return
    if not in_greenlet():
        lock.acquire()
        return
    pause = FIRST_PAUSE_S
    while not lock.acquire(blocking=False):
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, LONGEST_PAUSE_S)


def wait_readable(sock: socket.socket, timeout_s: float | None) -> None:
    """On the loop: return once `sock` has something to read (a reply), letting the loop
    serve others meanwhile. redis.TimeoutError after `timeout_s`, as a blocking read of
    the socket would raise."""
    await_only(_readable(sock.fileno(), timeout_s))


async def _readable(fd: int, timeout_s: float | None) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _settle, ready, None)
    expiry = (loop.call_later(timeout_s, _settle, ready, redis.exceptions.TimeoutError(
        "Timeout reading from socket")) if timeout_s is not None else None)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
        if expiry is not None:
            expiry.cancel()


def _settle(ready: asyncio.Future[None], error: BaseException | None) -> None:
    if ready.done():
        return
    if error is None:
        ready.set_result(None)
    else:
        ready.set_exception(error)
