"""Request latency by route template: a pure ASGI middleware, cheap on the hot path.

The route label is the matched route's template (`/api/v1/claims/{reference}`), taken
from the scope after routing; a request that matched no route is "unmatched". The raw
path never becomes a label: it can carry references and tokens, and it is unbounded.
Each (method, route, status) histogram child is looked up once and kept, so a request
costs two clock reads, one dictionary look-up and one observation.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rempart.observability.metrics import HTTP_SECONDS

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler is a 500 for the client

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            key = (method if method in _METHODS else "OTHER", route_template(scope), status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = HTTP_SECONDS.labels(key[0], key[1], str(status))
            child.observe(elapsed)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
