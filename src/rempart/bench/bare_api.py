"""The bare look-up endpoint: the floor that the check's throughput is measured against.

`POST /bench/lookup` takes a check's JSON body and does only the indexed look-up of the
rows that the check reads: the same blind indexes, the same query (without the check's
allowance column: the floor is the candidate rows alone), the same connection
handling (inline on SQLite, in a worker thread with a database server). No validation,
no decryption, no recording. It answers how many rows matched, which makes it an
oracle: the routes exist only when the settings say `bench_endpoints` (an explicit
override, never a default), and they are not in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rempart.coverage.check_reads import CheckReads
from rempart.population.sealing import identity_candidates, member_index
from rempart.runtime import Runtime
from rempart.vault import Vault

LOOKUP_PATH = "/bench/lookup"
READY_PATH = "/bench/ready"
_JSON = "application/json"


class BareLookup:
    def __init__(self, runtime: Runtime) -> None:
        self._reads = CheckReads(runtime.engine, allowance=False)
        self._vault: Vault = runtime.vault
        self._offload = not runtime.settings.is_sqlite

    async def rows(self, body: dict[str, Any]) -> int:
        if self._offload:
            return await asyncio.to_thread(self._rows, body)
        return self._rows(body)

    def _rows(self, body: dict[str, Any]) -> int:
        identity = identity_candidates(self._vault, body["nir"],
                                       dt.date.fromisoformat(body["birth_date"]))
        member = [member_index(self._vault, body["amc_number"], body["member_number"],
                               version=v) for v in self._vault.keyring.versions]
        return len(self._reads.find(identity=identity, member=member,
                                     category=body["category"],
                                     care_date=dt.date.fromisoformat(body["care_date"]))
                   .candidates)


def install_bench_endpoints(app: FastAPI, runtime: Runtime) -> None:
    """Plain routes first in the app, as the check's own fast route is: the two are
    measured through the same routing and middleware."""
    app.state.bare_lookup = BareLookup(runtime)
    app.router.routes[0:0] = [Route(LOOKUP_PATH, bare_lookup, methods=["POST"]),
                              Route(READY_PATH, ready, methods=["GET"])]


async def ready(request: Request) -> Response:
    return Response(b'{"ready":true}', media_type=_JSON)


async def bare_lookup(request: Request) -> Response:
    lookup: BareLookup = request.app.state.bare_lookup
    found = await lookup.rows(orjson.loads(await request.body()))
    return Response(orjson.dumps({"rows": found}), media_type=_JSON)
