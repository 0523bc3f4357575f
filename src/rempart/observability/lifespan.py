"""The app's lifespan: the audit writers' threads started before serving; on shutdown,
every background writer flushed before the process ends.

A server stopping gracefully (uvicorn on SIGTERM) first stops accepting connections and
lets the requests in flight finish; then it runs this shutdown, which waits for the
check journal's last group commit and stops the audit logs' writer threads once their
queues are written. Only then may the process exit: no answered check, no security
event, leaves without its audit entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import structlog
from starlette.types import ASGIApp

log = structlog.get_logger(__name__)

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


class Drains(Protocol):
    async def drain(self) -> None: ...


class Closes(Protocol):
    def close(self) -> None: ...


class StartsWriter(Protocol):
    def start_writer(self) -> None: ...


def with_writers_stopped(inner: Lifespan, *, drain: Sequence[Drains],
                         close: Sequence[Closes],
                         start: Sequence[StartsWriter] = ()) -> Lifespan:
    """The app's lifespan (`inner`, kept) preceded by the writers' start (their threads
    would otherwise start on the event loop at the first entry, stalling it until they
    run) and followed at shutdown by their flush."""

    @asynccontextmanager
    async def lifespan(app: ASGIApp) -> AsyncIterator[Any]:
        for starting in start:
            starting.start_writer()
        async with inner(app) as state:
            log.info("started")
            try:
                yield state
            finally:
                for writer in drain:
                    await writer.drain()
                for closable in close:
                    closable.close()
                log.info("stopped", flushed=len(drain) + len(close))

    return lifespan
