"""Simulated time: every actor is an async generator that yields the moment it wants to
act next; the scheduler moves the manual clock there and lets it act. Weeks run in
minutes because nobody waits for real time."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import AsyncIterator

from rempart.clock import ManualClock


async def run_actors(clock: ManualClock, actors: list[AsyncIterator[dt.datetime]], *,
                     until: dt.datetime) -> None:
    order = itertools.count()
    queue: list[tuple[dt.datetime, int, AsyncIterator[dt.datetime]]] = []

    async def wake(actor: AsyncIterator[dt.datetime]) -> None:
        try:
            moment = await anext(actor)
        except StopAsyncIteration:
            return
        heapq.heappush(queue, (moment, next(order), actor))

    for actor in actors:
        await wake(actor)
    while queue:
        moment, _, actor = heapq.heappop(queue)
        if moment > until:
            continue
        if moment > clock.now():
            clock.advance((moment - clock.now()).total_seconds())
        await wake(actor)
