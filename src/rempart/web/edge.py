"""The app's edge: request id, body cap, security headers and latency metrics, one layer.

They were four pure ASGI middlewares, each with its own coroutine frame and its own
`send` wrapper around every answer: 10-18 µs of CPU per check in-process, about what
the check's own validation costs (docs/performance.md). One layer does the same work, in
the same order as the four did (outermost first):

1. latency: the clock starts before anything else; the status observed is the one
   answered (500 when an exception escapes every handler: the server's error page is
   sent outside this layer), under the matched route's template
   (`rempart.observability.http_metrics`);
2. request id: kept from the request when short and plain, otherwise new; in the
   scope's state (error bodies quote it), in the log context for the request, and in
   the `X-Request-ID` header of the answer;
3. body cap: a declared Content-Length over the cap is refused before the app runs;
   a streamed body is counted as it is received and refused once past the cap
   (`rempart.web.body_limit`);
4. security headers on the answer, after the route's own
   (`rempart.web.security_headers`).

One difference, on purpose: the body cap's 413 now carries the security headers too
(the cap sat outside the security headers' middleware, so its answer had none).
"""

from __future__ import annotations

import time

import structlog
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rempart.observability.http_metrics import RouteLatency
from rempart.web.body_limit import BodyTooLarge, declared_length, refuse
from rempart.web.request_id import HEADER, request_id_for
from rempart.web.security_headers import security_headers_for, with_security_headers


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, router: Router) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._latency = RouteLatency(router=router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500  # an exception that escapes every handler is a 500 for the client
        request_id = request_id_for(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (HEADER, request_id.encode("ascii"))
        extra, no_store = security_headers_for(scope.get("path", ""))
        max_bytes = self.max_bytes
        received = 0
        started = False

        async def edge_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*with_security_headers(
                    message.get("headers", []), extra, no_store), id_header]
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        # bind/reset rather than `bound_contextvars`, which copies the whole context twice.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            declared = declared_length(scope)
            if declared is not None and declared > max_bytes:
                await refuse(scope, receive, edge_send)
                return
            try:
                await self.app(scope, counting_receive, edge_send)
            except BodyTooLarge:
                # Only reached when no handler answered; too late once a response started.
                if started:
                    raise
                await refuse(scope, receive, edge_send)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
            self._latency.observe(scope, status, time.perf_counter() - started_at)
