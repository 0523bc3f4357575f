"""The code in an API client's 401 `step_up_required` (rempart.auth.api_step_up).

The answer to a withheld check names the rung only: the code and where to confirm it
are the same whether the person matched or not, and say nothing of the guard's reasons.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

VERIFICATION_PATH = "/portal/api-step-up"


async def step_up_code(request: Request, client_id: str,
                       key_thumbprint: str) -> dict[str, Any] | None:
    """The key's pending code (or a new one) and where to confirm it; None where the app
    has no portal authentication or the client is revoked."""
    auth = getattr(request.app.state, "auth", None)
    if auth is None:
        return None
    # A database write, rare (a step-up): off the event loop.
    challenge = await run_in_threadpool(auth.api_step_ups.challenge, client_id=client_id,
                                        key_thumbprint=key_thumbprint)
    if challenge is None:
        return None
    origins = auth.settings.origins
    base = origins[0].rstrip("/") if origins else str(request.base_url).rstrip("/")
    return {"user_code": challenge.user_code, "verification_uri": base + VERIFICATION_PATH,
            "expires_in": challenge.expires_in}
