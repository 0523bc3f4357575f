"""/healthz, /readyz and /metrics: plain routes outside the API's schema.

/healthz says only that the process answers (no dependency is touched: a restart is
the only cure for a failing liveness probe). /readyz runs the readiness checks off the
event loop, within a deadline, and answers 503 naming the failing components. /metrics
serves the Prometheus text format, summed over every worker in multiprocess mode, to
the addresses of `metrics_allow` only when that list is set.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rempart.observability.metrics import exposition
from rempart.observability.readiness import TIMEOUT_S, ReadinessProbe
from rempart.web.identity import client_address
from rempart.web.networks import contains, parse_networks

_NO_STORE = {"cache-control": "no-store"}


def install_operation_routes(app: FastAPI, *, probe: ReadinessProbe,
                             metrics_allow: tuple[str, ...]) -> None:
    networks = parse_networks("REMPART_METRICS_ALLOW", metrics_allow)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive"}, headers=_NO_STORE)

    async def readyz(_request: Request) -> Response:
        try:
            readiness = await asyncio.wait_for(asyncio.to_thread(probe.check), TIMEOUT_S * 2)
        except TimeoutError:
            return JSONResponse({"status": "not_ready", "failing": ["timeout"]},
                                status_code=503, headers=_NO_STORE)
        body: dict[str, object] = {"status": "ready" if readiness.ready else "not_ready",
                                   "components": readiness.components}
        if not readiness.ready:
            body["failing"] = readiness.failing
        return JSONResponse(body, status_code=200 if readiness.ready else 503,
                            headers=_NO_STORE)

    async def metrics(request: Request) -> Response:
        if networks and not contains(networks, client_address(request)):
            return JSONResponse({"error": {"code": "forbidden",
                                           "message": "metrics are not served to this address"}},
                                status_code=403)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)

    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)

