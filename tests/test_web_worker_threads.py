"""The threads a served request is sent to are started before serving, never on the loop.

A `Thread.start` made on the event loop waits there until the new thread runs: behind
busy requests, tens of milliseconds of a stalled loop per thread (rempart.web.worker_threads).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio._backends._asyncio import AsyncIOBackend

from ops_support import with_signing_key
from rempart.runtime import Runtime
from rempart.web.app import create_app
from settings_support import sqlite_settings

# More at once than asyncio's default executor has threads (6 here), fewer than
# anyio's 40: each request must find a thread already running.
CONCURRENT = 12
# Sent to anyio's pool (a plain `def` page) and to the loop's default executor
# (the readiness probe, `asyncio.to_thread`).
PATHS = ("/portal/login", "/readyz")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    opened = Runtime.open(sqlite_settings(tmp_path), create_keys=True)
    try:
        yield with_signing_key(opened)  # /readyz answers 200
    finally:
        opened.close()


@pytest.fixture
def started_on_a_loop(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads started by a thread running an event loop."""
    names: list[str] = []
    original = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            names.append(thread.name)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    return names


async def burst(client: httpx.AsyncClient) -> list[int]:
    answers = await asyncio.gather(*(client.get(path) for path in PATHS
                                     for _ in range(CONCURRENT)))
    return [answer.status_code for answer in answers]


def serve(runtime: Runtime, started: list[str], *, lull: Any = None) -> list[list[str]]:
    """Run the app's lifespan, then two bursts of requests (with `lull()` between them);
    the threads started on the loop during each burst."""
    app = create_app(runtime)
    during: list[list[str]] = []

    async def run() -> None:  # what uvicorn does around the requests
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for turn in range(2):
                    if turn and lull is not None:
                        lull()
                    del started[:]
                    assert set(await burst(client)) == {200}
                    during.append(list(started))

    asyncio.run(run())
    return during


def test_a_burst_of_requests_sent_to_worker_threads_starts_none_on_the_loop(
        runtime: Runtime, started_on_a_loop: list[str]) -> None:
    first, second = serve(runtime, started_on_a_loop)
    assert first == []
    assert second == []


def test_a_burst_after_a_lull_longer_than_anyios_idle_limit_starts_none_on_the_loop(
        runtime: Runtime, started_on_a_loop: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # anyio ends the threads idle for 10 s when it next hands one out: move its clock on
    # 60 s between the bursts rather than waiting.
    clock = AsyncIOBackend.current_time

    def lull() -> None:
        monkeypatch.setattr(AsyncIOBackend, "current_time",
                            classmethod(lambda _cls: clock() + 60.0))

    first, second = serve(runtime, started_on_a_loop, lull=lull)
    assert first == []
    assert second == []


def test_the_audit_logs_writers_run_before_the_first_request(runtime: Runtime) -> None:
    # Otherwise the first entry (a token request's security event, say) starts one on the loop.
    app = create_app(runtime)
    earlier = set(threading.enumerate())  # other tests' apps may have left theirs running
    writers: list[threading.Thread] = []

    async def run() -> None:
        async with app.router.lifespan_context(app):
            writers.extend(t for t in threading.enumerate()
                           if t.name == "audit-writer" and t not in earlier)

    asyncio.run(run())
    assert len(writers) == 2  # the disclosures' audit log and the security events' own
    assert not any(writer.is_alive() for writer in writers)  # stopped at shutdown
