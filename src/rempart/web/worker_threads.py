"""The worker threads a served request may use: started before serving, kept for good.

Two shared pools take blocking work off the event loop:

- the loop's default executor (`asyncio.to_thread`): the check look-up and the journal's
  commits away from SQLite's fast path, the readiness probe;
- anyio's worker threads (Starlette's `run_in_threadpool`): `run_blocking` on
  PostgreSQL, the portal's session identity, every plain `def` route or dependency
  FastAPI serves.

Left alone, both start a thread when none is idle, on the event loop, and
`Thread.start` waits there until the new thread runs: behind the requests holding the
GIL that was 40-150 ms per thread at load 10, one thread after another at a burst of new
clients (docs/performance.md, "Threads started before serving"). anyio also ends a
thread idle for 10 s, so a burst after a lull starts them again.

`keep_worker_threads(app)` puts `start_worker_threads` first in the app's lifespan,
which runs before the server accepts a connection:

- the default executor becomes a `ThreadPoolExecutor` of LOOP_THREADS, all started
  (the size asyncio itself would choose: the same concurrency as before);
- anyio's pool gets as many threads as its default limiter has tokens (40 unless
  changed), all started at once, and anyio's idle limit is lifted so that they stay.
  That limit is a class attribute of anyio's asyncio backend, not yet a setting
  (agronholm/anyio#950); if a release renames it, a warning says so and the threads
  are still started (tests/test_web_worker_threads.py fails then).

On PostgreSQL both pools are given the settings' `db_threads` threads instead
(`keep_worker_threads(app, threads=...)`): each thread may keep a driver connection per
owner (rempart.storage.thread_connections), so the threads bound the connections a
worker may open (rempart.storage.connection_budget).

The DPoP check's own pool (`auth_identity.fallback_pool`) is built with
`started_executor` as well.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import structlog
from fastapi import FastAPI

log = structlog.get_logger(__name__)

# asyncio's default executor size (ThreadPoolExecutor's own default).
LOOP_THREADS = min(32, (os.cpu_count() or 1) + 4)
# Used only if anyio's default limiter was made unbounded: its default token count.
ANYIO_THREADS = 40
# Startup gives up waiting for every thread to be running after this long (a thread
# that cannot start is a broken process, not a slow one).
START_TIMEOUT_S = 30.0

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def started_executor(threads: int, *, name: str) -> ThreadPoolExecutor:
    """A ThreadPoolExecutor whose `threads` threads are all running when it returns."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    # Each task waits for all the others: `threads` tasks busy at once make the
    # executor start every thread now; it never starts one later (nor ends one).
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait, START_TIMEOUT_S)
    barrier.wait(START_TIMEOUT_S)
    return pool


async def start_worker_threads(threads: int | None = None) -> None:
    """On the serving loop, before it serves: both shared pools' threads, all started;
    `threads` in each, or their own sizes (LOOP_THREADS, anyio's limiter)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(started_executor(threads or LOOP_THREADS, name="loop-worker"))
    if threads is not None:
        # This loop's limiter: no more of anyio's threads busy at once, hence no more
        # started (they are kept, never ended, below).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    _keep_anyio_threads()
    await _start_anyio_threads()


def keep_worker_threads(app: FastAPI, *, threads: int | None = None) -> None:
    """Start the worker threads first in the app's lifespan (call once, last in
    create_app, so that this lifespan wraps every other one); `threads` as for
    `start_worker_threads`."""
    inner: Lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        await start_worker_threads(threads)
        async with inner(application) as state:
            yield state

    app.router.lifespan_context = lifespan


def _keep_anyio_threads() -> None:
    # Private to anyio (see the module docstring): checked, never assumed.
    from anyio._backends import _asyncio as backend

    worker = getattr(backend, "WorkerThread", None)
    if worker is None or not isinstance(getattr(worker, "MAX_IDLE_TIME", None), int | float):
        log.warning("anyio_idle_limit_not_found")
        return
    worker.MAX_IDLE_TIME = math.inf


async def _start_anyio_threads() -> None:
    tokens = anyio.to_thread.current_default_thread_limiter().total_tokens
    threads = ANYIO_THREADS if math.isinf(tokens) else int(tokens)
    # All busy at once, so that anyio starts a thread for each rather than reusing one.
    barrier = threading.Barrier(threads)

    def arrive() -> bool:
        try:
            barrier.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            return False
        return True

    arrived: list[bool] = []

    async def one() -> None:
        arrived.append(await anyio.to_thread.run_sync(arrive))

    async with anyio.create_task_group() as group:
        for _ in range(threads):
            group.start_soon(one)
    if not all(arrived):
        log.warning("anyio_threads_not_all_started", threads=threads)
