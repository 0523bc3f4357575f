"""What a route asks for: the provider behind the request, the services, blocking calls.

Services are built once per app (in create_app) and read from app.state; nothing is
created per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rempart.coverage.claims import ClaimService
from rempart.coverage.service import CheckService
from rempart.web.identity import ProviderIdentity
from rempart.web.problems import JSON_MEDIA_TYPE

T = TypeVar("T")


async def current_provider(request: Request) -> ProviderIdentity:
    identity: ProviderIdentity = await request.app.state.identity_source.identify(request)
    return identity


# Async, even though they do not await: FastAPI runs plain `def` dependencies in the
# thread pool, which would cost more than the whole look-up.
async def check_service(request: Request) -> CheckService:
    service: CheckService = request.app.state.check_service
    return service


async def claim_service(request: Request) -> ClaimService:
    service: ClaimService = request.app.state.claim_service
    return service


CurrentProvider = Annotated[ProviderIdentity, Depends(current_provider)]
Checks = Annotated[CheckService, Depends(check_service)]
Claims = Annotated[ClaimService, Depends(claim_service)]


async def run_blocking(request: Request, call: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a synchronous service call.

    On SQLite a call takes well under a millisecond of local I/O, and a hop to a worker
    thread would cost more than it saves, so it runs inline; with a database server
    (network round trips) it runs in the thread pool so the event loop keeps serving.
    """
    if request.app.state.offload_blocking:
        return await run_in_threadpool(call, **kwargs)
    return call(**kwargs)


def json_answer(payload: Any, *, status: int = 200,
                media_type: str = JSON_MEDIA_TYPE) -> Response:
    """Serialise dataclasses, dates and enums straight to JSON bytes with orjson."""
    return Response(orjson.dumps(payload), status_code=status, media_type=media_type)
