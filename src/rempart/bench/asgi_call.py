"""One HTTP request fed to an ASGI app in process, its status counted (in-process benches).

The in-process scripts (`scripts/bench_served_inprocess.py`, `scripts/bench_auth_inprocess.py`)
drive the app a server builds without a socket, so that what they measure is the app's
own CPU; this is the request they each send.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def call_counting(app: Any, scope: dict[str, Any], body: bytes,
                        statuses: dict[int, int]) -> None:
    """Send `body` to `app` as one request of `scope`; count its status in `statuses`."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects
        raise RuntimeError("unreachable: the wait above never ends")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    await app(scope, receive, send)
