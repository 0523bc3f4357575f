"""Request ids: one per request, in the response headers and in every log line.

An incoming X-Request-ID is kept only when it is short and plain (so a caller cannot
inject text into the logs); otherwise a new one is drawn.
"""

from __future__ import annotations

import re
import secrets

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_ACCEPTABLE = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id
        raw = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER, raw)]
            await send(message)

        # bind/reset rather than `bound_contextvars`, which copies the whole context twice.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _ACCEPTABLE.match(value) else None
    return None
