"""Every actor is an async generator that yields the moment it wants to act next; the
scheduler waits for that moment and lets it act. On simulated time waiting is moving
the clock, so weeks run in minutes; on real time (a running instance) it is sleeping."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import AsyncIterator

from rempart.drill.clocks import DrillClock


async def run_actors(clock: DrillClock, actors: list[AsyncIterator[dt.datetime]], *,
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
        await clock.wait_until(moment)
        await wake(actor)
