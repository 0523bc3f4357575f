"""A cap on request bodies, applied by the app's edge layer (`rempart.web.edge`).

A declared Content-Length over the cap is refused at once, before the application runs
and before a byte of the body is read. A body without a length (chunked) is counted as
it streams in, and refused as soon as it passes the cap: it is never held in memory
whole. Both answer 413 with the usual error body (an OperationOutcome under /fhir/).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

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


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 413 with the usual error body (an OperationOutcome under /fhir/)."""
    response = error_response(status=STATUS, code="body_too_large", message=MESSAGE,
                              request_id=request_id_of(scope),
                              fhir=is_fhir_path(scope.get("path", "")),
                              headers={"connection": "close"})
    await response(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
