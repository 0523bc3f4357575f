"""Request ids: one per request, in the response headers and in every log line.

An incoming X-Request-ID is kept only when it is short and plain (so a caller cannot
inject text into the logs); otherwise a new one is drawn. The id is set on each request
by the app's edge layer (`rempart.web.edge`), which also binds it to the log context.
"""

from __future__ import annotations

import re
import secrets

from starlette.types import Scope

HEADER = b"x-request-id"
_ACCEPTABLE = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def request_id_for(scope: Scope) -> str:
    """The incoming id when it is short and plain, otherwise a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            if _ACCEPTABLE.match(value):
                return str(value.decode("ascii"))
            break
    # 24 characters, a letter first: the log scrubber (rempart.observability.logs)
    # redacts a NIR-shaped run of digits unless a letter or digit precedes it, and a
    # random hex id begins with such a run about once in 10,000.
    return "r" + secrets.token_hex(12)[1:]
