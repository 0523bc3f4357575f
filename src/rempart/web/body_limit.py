"""A cap on request bodies, as plain ASGI middleware.

A declared Content-Length over the cap is refused at once, before the application runs
and before a byte of the body is read. A body without a length (chunked) is counted as
it streams in, and refused as soon as it passes the cap: it is never held in memory
whole. Both answer 413 with the usual error body (an OperationOutcome under /fhir/).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rempart.web.problems import error_response, is_fhir_path
from rempart.web.request_id import request_id_of

STATUS = 413
MESSAGE = "the request body is too large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the cap.

    An HTTPException, so that FastAPI's body reading lets it through to the error
    handlers rather than turning it into a 400.
    """

    def __init__(self) -> None:
        super().__init__(status_code=STATUS, detail=MESSAGE)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Only reached when no handler answered; too late once a response has started.
            if started:
                raise
            await self._refuse(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(status=STATUS, code="body_too_large", message=MESSAGE,
                                  request_id=request_id_of(scope),
                                  fhir=is_fhir_path(scope.get("path", "")),
                                  headers={"connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
