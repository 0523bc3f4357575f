"""503 answers: a dependency that cannot serve refuses the request, cleanly.

- the exfiltration guard's shared state (Redis) does not answer: a check it cannot count
  is not answered (`GuardUnavailable`);
- the database does not answer, or cannot write (restarted, unreachable, disk full): a
  disclosure whose audit entry cannot be committed is not answered, and nothing else
  can be served either (`rempart.storage.unavailable`).

The answer is the usual problem document (or OperationOutcome under /fhir/), with a
`retry-after`; portal pages get the portal's error page instead. The log line names the
route's template and the error's type, never a message (a driver's message can carry a
host, a path or a statement's values) and never a traceback. Any other database error is
a bug and goes on to the 500 handler.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

import psycopg
import structlog
from fastapi import FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from rempart.audit.errors import AuditWriteFailed
from rempart.guard.errors import GuardUnavailable
from rempart.observability.http_metrics import route_template
from rempart.storage.unavailable import database_unavailable
from rempart.web.auth_errors import is_portal_page
from rempart.web.problems import error_response, is_fhir_path
from rempart.web.request_id import request_id_of

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 5
GUARD = "guard_unavailable"
DATABASE = "database_unavailable"
_MESSAGES = {
    GUARD: "checks are unavailable for a moment: retry later",
    DATABASE: "the service is unavailable for a moment: retry later",
}
# Where a database failure surfaces: SQLAlchemy's errors, the driver's own (the driver
# connections of the hot path), or the audit log's refusal.
_DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, psycopg.Error,
                                                  sqlite3.Error, AuditWriteFailed)

PageRenderer = Callable[[Request], Awaitable[Response]]


def unavailability(exc: Exception) -> str | None:
    """The 503 code for an error, or None when it is not a dependency's unavailability."""
    if isinstance(exc, GuardUnavailable):
        return GUARD
    if database_unavailable(exc):
        return DATABASE
    return None


def install_unavailable_handlers(app: FastAPI, *, page: PageRenderer | None = None) -> None:
    """The 503 handlers; `page` renders them for portal pages (the portal installs it)."""

    async def unavailable(request: Request, exc: Exception) -> Response:
        code = unavailability(exc)
        if code is None:
            raise exc  # a bug, not an outage: the 500 handler answers it
        log.warning(code.replace("_", " "), error_type=type(exc).__name__,
                    route=route_template(request.scope))
        headers = {"retry-after": str(RETRY_AFTER_S)}
        if page is not None and is_portal_page(request.url.path):
            response = await page(request)
            response.headers.update(headers)
            return response
        return error_response(status=503, code=code, message=_MESSAGES[code],
                              request_id=request_id_of(request.scope),
                              fhir=is_fhir_path(request.url.path), headers=headers)

    app.add_exception_handler(GuardUnavailable, unavailable)
    for kind in _DATABASE_ERRORS:
        app.add_exception_handler(kind, unavailable)
