"""The edge layer's own cost, in process: µs per request, with and without it.

A Starlette router with one plain route (as the fast check path is) answers requests
driven straight through ASGI, no server and no socket, so the difference between the
two sides is the work of the app's edge layer (`rempart.web.edge`): the request id and
its log context, the body cap, the security headers, and the latency metrics (clock
reads, the route template look-up, the histogram observation). Rounds alternate
between the sides and the median round counts, so that a neighbour's load on a shared
machine falls on both alike.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message

from rempart.web.edge import EdgeMiddleware


@dataclass(frozen=True)
class MiddlewareFigures:
    requests_per_round: int
    rounds: int
    bare_us: float
    instrumented_us: float
    cost_us: float
    ratio: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _answer(_request: Request) -> Response:
    return Response(b"{}", status_code=201, media_type="application/json")


def run_middleware_bench(*, requests: int = 20_000, rounds: int = 7) -> MiddlewareFigures:
    router = Router(routes=[Route("/api/v1/checks", _answer, methods=["POST"])])
    sides: dict[str, ASGIApp] = {
        "bare": router,
        "instrumented": EdgeMiddleware(router, max_bytes=65_536, router=router)}
    timings: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, app in sides.items():
            timings[name].append(asyncio.run(_drive(app, requests)) / requests * 1e6)
    bare = statistics.median(timings["bare"])
    instrumented = statistics.median(timings["instrumented"])
    return MiddlewareFigures(
        requests_per_round=requests, rounds=rounds, bare_us=round(bare, 2),
        instrumented_us=round(instrumented, 2), cost_us=round(instrumented - bare, 2),
        ratio=round(instrumented / bare, 3))


async def _drive(app: ASGIApp, requests: int) -> float:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(_message: Message) -> None:
        return None

    started = time.perf_counter()
    for _ in range(requests):
        scope = {"type": "http", "method": "POST", "path": "/api/v1/checks",
                 "root_path": "", "query_string": b"", "headers": [],
                 "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
                 "scheme": "http", "http_version": "1.1"}
        await app(scope, receive, send)
    return time.perf_counter() - started
