"""uvicorn's own CPU per request by request shape: `bench_auth_inprocess.py --uvicorn-parse N`.

The same keep-alive connection of uvicorn's httptools protocol (as `rempart bench
checks` runs it: `--http httptools`, proxy headers trusted from loopback) is fed whole
requests, shaped as the bench sends them (demo-identity headers, or Authorization, DPoP
and X-Forwarded-For of the same sizes as the bench's), through a fake transport, to an
app that reads the body and answers 201 with a small body: what the server does per
request before and after rempart's app, socket calls excepted. Shapes alternate in
blocks; CPU per request (process, user and system).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import statistics
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from rempart.bench.checks_bench import CHECKS_PATH, post_request

BODY = (b'{"nir":"1850575123456","birth_date":"1985-05-12","birth_rank":1,'
        b'"amc_number":"12345678","member_number":"A123456789","category":"pharmacy",'
        b'"care_date":"2026-12-01"}')
TOKEN_CHARS = 640  # an ES256 access token of the bench (header, claims, signature)
PROOF_CHARS = 560  # a DPoP proof with its P-256 jwk, htu and ath
BLOCK = 2_000


def _shapes() -> dict[str, bytes]:
    host = b"127.0.0.1:8000"
    demo = post_request(CHECKS_PATH, BODY, host=host, headers={
        "x-rempart-demo-organisation": "1234", "x-rempart-demo-session": "bench-12345",
        "x-rempart-demo-address": "10.45.49.1"})
    dpop = post_request(CHECKS_PATH, BODY, host=host, headers={
        "authorization": "DPoP " + secrets.token_urlsafe(TOKEN_CHARS)[:TOKEN_CHARS],
        "dpop": secrets.token_urlsafe(PROOF_CHARS)[:PROOF_CHARS],
        "x-forwarded-for": "10.45.49.1"})
    return {"demo": demo, "dpop": dpop}


class _Transport(asyncio.Transport):
    def __init__(self, done: list[asyncio.Future[None]]) -> None:
        super().__init__()
        self._done = done

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith(b"}") and self._done and not self._done[0].done():
            self._done[0].set_result(None)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"16")]})
    await send({"type": "http.response.body", "body": b'{"covered":true}'})


async def _run(n: int) -> None:
    config = Config(app=_answer, http="httptools", loop="none", lifespan="off",
                    access_log=False, log_level="warning")
    config.load()  # wraps the app in ProxyHeadersMiddleware, loopback trusted
    done: list[asyncio.Future[None]] = []
    protocol = HttpToolsProtocol(config, ServerState(), {})
    protocol.connection_made(_Transport(done))
    loop = asyncio.get_running_loop()
    shapes = _shapes()
    figures: dict[str, list[float]] = {name: [] for name in shapes}
    for block in range(max(1, n // BLOCK) * 2):
        for name in shapes if block % 2 == 0 else list(shapes)[::-1]:
            data = shapes[name]
            before = resource.getrusage(resource.RUSAGE_SELF)
            for _ in range(BLOCK):
                done[:] = [loop.create_future()]
                protocol.data_received(data)
                await done[0]
            after = resource.getrusage(resource.RUSAGE_SELF)
            figures[name].append((after.ru_utime - before.ru_utime + after.ru_stime
                                  - before.ru_stime) / BLOCK * 1e6)
    print(json.dumps({"uvicorn_cpu_us_per_request": {
        name: round(statistics.median(values), 1) for name, values in figures.items()},
        "bytes": {name: len(data) for name, data in shapes.items()},
        "blocks": len(figures["demo"]), "load": os.getloadavg()}), flush=True)


def measure_parsing(n: int) -> None:
    uvloop.run(_run(n))
