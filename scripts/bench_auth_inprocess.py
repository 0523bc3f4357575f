"""What authentication adds to a served check, part by part, in process (issue 4).

    PYTHONPATH=src python scripts/bench_auth_inprocess.py --data-dir DIR
        [--checks N] [--rounds R] [--modes demo,dpop,...] [--clients C]

The app is the one a server builds (`create_app_from_environment`, lifespan included,
wrapped in uvicorn's `ProxyHeadersMiddleware` as uvicorn serves it) over the bench's
SQLite instance of 100,000 persons (built by `rempart bench checks --people 100000 ...
--data-dir DIR` first), with the bench's 20,000 API clients (`bench-api-clients.json`,
registered on first use). 32 concurrent tasks on uvloop feed it the requests of
`rempart bench checks --auth`, with no server and no socket in between:

- demo-identity checks as the "checks" phase sends them (`checks_bench.demo_check`);
- DPoP checks as the "checks_authenticated" phase sends them: request n from client
  n mod C, its token, a fresh proof (made before the block, outside the measure), its
  practice's address in X-Forwarded-For.

Every client's first check is made before anything is measured (as the bench's first
contact does), and every mode is measured in blocks of N checks, the modes in turn,
R rounds: one JSON line per block (the process's CPU per check, all threads, user and
system; checks per second; the answers' statuses), then the median per mode.

Modes (request shape + identity + the app's parts), each differing from another by one
thing, so that differences attribute the served DPoP check's extra CPU:

    demo                demo headers, demo identity (the bench's checks phase)
    demo_padded         the same, carrying a DPoP request's Authorization, DPoP and
                        X-Forwarded-For headers as well (ignored by the demo identity)
    dpop                DPoP checks as served (identified on the event loop from memory)
    dpop_token_kept     the same, a token's verified signature kept for the token's
                        whole life (not VERIFIED_SECONDS): one signature per token
    dpop_inline         the same requests as dpop, the full check (`identify`, as a
                        worker thread makes it) called on the event loop
    dpop_fixed          the same requests given the identity their DPoP check gave at
                        first contact, with no verification (the API session, device
                        and address as served: guard and audit see the same)
    *_noguard           (demo, dpop_fixed) the exfiltration guard switched off
    *_noaudit           (demo, dpop_fixed) the audit log switched off (nothing recorded)

The app's parts are switched between blocks on the one app (its check service's gate
and journal recorder, its identity source), so every mode runs on the same state.
Access tokens last 5 minutes: the run (first contact included) must end before, or it
stops with an error rather than measure refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from rempart.auth import access_tokens
from rempart.bench.api_clients import ApiSoftware, ensure_bench_clients, mint_tokens
from rempart.bench.asgi_call import call_counting
from rempart.bench.bench_instance import BenchInstance, ensure_bench_instance
from rempart.bench.checks_bench import CHECKS_PATH, CORPUS_SIZE, ROTATION_STRIDE, demo_check
from rempart.bench.corpus import CorpusMix, draw_check_bodies
from rempart.bench.dpop_requests import client_address
from rempart.bench.unrecorded import UnrecordedForBenchmark
from rempart.web.identity import ProviderIdentity
from rempart.web.identity import client_address as peer_address

PEOPLE = 100_000
SEED = 1  # the bench's default population seed
CONCURRENCY = 32
DEMO_WARMUP = 2_000
FIRST_CONTACT_CHUNK = 2_000  # sent within the proofs' 60 s
HOST = "127.0.0.1:8000"
URL = f"http://{HOST}{CHECKS_PATH}"
MODES = ("demo", "demo_padded", "dpop", "dpop_token_kept", "dpop_inline", "dpop_fixed",
         "demo_noguard",
         "dpop_fixed_noguard", "demo_noaudit", "dpop_fixed_noaudit")
TOKEN_MARGIN_S = 20.0
TOKEN_LIFE_S = 3_600.0  # longer than any token lives: their own expiry decides

Headers = list[tuple[bytes, bytes]]


def _scope(headers: Headers, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": CHECKS_PATH,
            "raw_path": CHECKS_PATH.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", HOST.encode()), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), *headers],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {}}


@dataclass
class Requests:
    """The bench's two rotations, as ASGI scopes and bodies."""

    bodies: list[bytes]
    organisations: list[int]
    clients: list[ApiSoftware]
    tokens: list[str]
    minted_at: float
    demo_cursor: int = 0
    dpop_cursor: int = 0

    def demo(self, count: int, *, padded: bool = False) -> list[tuple[dict[str, Any], bytes]]:
        made = []
        extra = self._dpop_headers(self.dpop_cursor, count) if padded else None
        if padded:
            self.dpop_cursor += count  # their proofs are never sent twice either
        for k, i in enumerate(range(self.demo_cursor, self.demo_cursor + count)):
            body, demo = demo_check(i, self.bodies, self.organisations)
            headers = [(name.encode(), value.encode()) for name, value in demo.items()]
            made.append((_scope(headers + (extra[k][0] if extra else []), body), body))
        self.demo_cursor += count
        return made

    def dpop(self, count: int) -> list[tuple[dict[str, Any], bytes]]:
        made = [(_scope(headers, body), body)
                for headers, body in self._dpop_headers(self.dpop_cursor, count)]
        self.dpop_cursor += count
        return made

    def _dpop_headers(self, first: int, count: int) -> list[tuple[Headers, bytes]]:
        """As `dpop_requests.practice_requests` makes them: client n mod C, its token,
        a fresh proof, its address; the patient of its pass over the clients."""
        size, corpus = len(self.clients), len(self.bodies)
        made = []
        for n in range(first, first + count):
            index = n % size
            client, token = self.clients[index], self.tokens[index]
            body = self.bodies[(n + n // size * ROTATION_STRIDE + corpus // 2) % corpus]
            made.append(([(b"authorization", f"DPoP {token}".encode()),
                          (b"dpop", client.dpop.proof("POST", URL, access_token=token)
                           .encode()),
                          (b"x-forwarded-for", client_address(index).encode())], body))
        return made


class FixedDpopIdentity:
    """The identity each token's DPoP check gave at first contact, without any check:
    the same API session, device and address (the peer X-Forwarded-For named)."""

    def __init__(self, by_token: dict[str, ProviderIdentity]) -> None:
        self._by_token = by_token

    async def identify(self, request: Request) -> ProviderIdentity:
        token = (request.headers.get("authorization") or "").partition(" ")[2]
        identity = self._by_token[token]
        if identity.client_address != peer_address(request):
            raise RuntimeError("the fixed identity's address is not the request's")
        return identity


class InlineDpopIdentity:
    """The app's own DPoP identification, called on the event loop (no thread hop)."""

    def __init__(self, authenticator: Any) -> None:
        self._authenticator = authenticator

    async def identify(self, request: Request) -> ProviderIdentity:
        return self._authenticator.identify(request)


class RecordingIdentity:
    """The app's identity source, keeping what each DPoP token was identified as."""

    def __init__(self, served: Any, by_token: dict[str, ProviderIdentity]) -> None:
        self._served = served
        self._by_token = by_token

    async def identify(self, request: Request) -> ProviderIdentity:
        identity: ProviderIdentity = await self._served.identify(request)
        authorization = request.headers.get("authorization")
        if authorization is not None:
            self._by_token[authorization.partition(" ")[2]] = identity
        return identity


class Probe:
    """Counters read around each block: the DPoP check's own CPU (its thread's CPU in
    `ApiAuthService.authenticate`, on the event loop or in a thread, refusals that send
    it to a thread included), token signatures verified (not found in the
    verified-token cache), the part of the check's CPU spent verifying the proof's
    signature and reading its claims (`DpopVerifier._verified_claims`, and
    `_known_header_claims` past a header kept), and the
    garbage collector's runs and CPU (it scans the guard's state)."""

    def __init__(self, authenticator: Any) -> None:
        self.identify_s = 0.0
        self.identified = 0
        self.token_signatures = 0
        self.signature_s = 0.0
        self._authenticator = authenticator
        self.gc_s = 0.0
        self.gc_runs = [0, 0, 0]
        self._gc_started = threading.local()
        api_auth = authenticator._api_auth
        authenticate = api_auth.authenticate
        access_tokens = api_auth._tokens
        verified_claims = access_tokens._verified_claims
        verifier = api_auth._dpop

        def timed_authenticate(**kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return authenticate(**kwargs)
            finally:
                self.identify_s += time.thread_time() - started
                self.identified += 1

        def counted_verified_claims(token: str, **kwargs: Any) -> Any:
            self.token_signatures += 1
            return verified_claims(token, **kwargs)

        def timed(call: Callable[..., Any]) -> Callable[..., Any]:
            def timed_call(*args: Any) -> Any:
                started = time.thread_time()
                try:
                    return call(*args)
                finally:
                    self.signature_s += time.thread_time() - started
            return timed_call

        api_auth.authenticate = timed_authenticate
        # The proof's signature and claims: in full, or past a header kept (newer code).
        for name in ("_verified_claims", "_known_header_claims"):
            if hasattr(verifier, name):
                setattr(verifier, name, timed(getattr(verifier, name)))
        access_tokens._verified_claims = counted_verified_claims
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started.at = time.thread_time()
        else:
            self.gc_s += time.thread_time() - getattr(self._gc_started, "at", 0.0)
            self.gc_runs[info["generation"]] += 1

    def snapshot(self) -> tuple[Any, ...]:
        return (self.identify_s, self.identified, self.token_signatures, self.gc_s,
                list(self.gc_runs), self.signature_s,
                self._authenticator.on_loop, self._authenticator.in_thread)

    @staticmethod
    def per_check(before: tuple[Any, ...], after: tuple[Any, ...],
                  checks: int) -> dict[str, Any]:
        identified = after[1] - before[1]
        return {
            "identify_us": round((after[0] - before[0]) / checks * 1e6, 1)
            if identified else None,
            "signature_us": round((after[5] - before[5]) / checks * 1e6, 1)
            if identified else None,
            # Where the checks were answered: from memory on the loop, or in a thread.
            "on_loop": after[6] - before[6], "in_thread": after[7] - before[7],
            "token_signatures": after[2] - before[2],
            "gc_us": round((after[3] - before[3]) / checks * 1e6, 1),
            "gc_runs": [a - b for a, b in zip(after[4], before[4], strict=True)]}


class Switches:
    """The app's parts, as served or switched off, between blocks."""

    def __init__(self, app: Any) -> None:
        self._state = app.state
        service = app.state.check_service
        self._service = service
        self._gate = service._gate
        self._recorder = service._journal._recorder
        self.served_identity = app.state.identity_source
        self.by_token: dict[str, ProviderIdentity] = {}
        tokens = self.served_identity._otherwise._tokens  # the app's DpopAuthenticator
        self.identities = {"served": self.served_identity,
                           "recording": RecordingIdentity(self.served_identity, self.by_token),
                           "inline": InlineDpopIdentity(tokens),
                           "fixed": FixedDpopIdentity(self.by_token)}
        self.probe = Probe(tokens)
        self.token_cache_seconds = access_tokens.VERIFIED_SECONDS

    def set(self, *, identity: str = "served", guard: bool = True, audit: bool = True,
            token_cache_seconds: float | None = None) -> None:
        access_tokens.VERIFIED_SECONDS = token_cache_seconds or self.token_cache_seconds
        self._state.identity_source = self.identities[identity]
        self._service._gate = self._gate if guard else None
        self._service._journal._recorder = self._recorder if audit \
            else UnrecordedForBenchmark()


def _mode(requests: Requests, switches: Switches, mode: str,
          count: int) -> list[tuple[dict[str, Any], bytes]]:
    """The mode's parts switched on the app, and its requests."""
    guard, audit = not mode.endswith("_noguard"), not mode.endswith("_noaudit")
    if mode.startswith("demo"):
        switches.set(guard=guard, audit=audit)
        return requests.demo(count, padded=mode == "demo_padded")
    identity = {"dpop": "served", "dpop_token_kept": "served",
                "dpop_inline": "inline"}.get(mode, "fixed")
    switches.set(identity=identity, guard=guard, audit=audit,
                 token_cache_seconds=TOKEN_LIFE_S if mode == "dpop_token_kept" else None)
    return requests.dpop(count)


async def _drive(app: Any, batch: list[tuple[dict[str, Any], bytes]]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    pending = iter(batch)

    async def client() -> None:
        for scope, body in pending:
            await call_counting(app, scope, body, statuses)

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return statuses


async def _measure(requests: Requests, modes: list[str], checks: int, rounds: int,
                   lifetime: int) -> None:
    from rempart.web.asgi import create_app_from_environment

    app = create_app_from_environment()
    served = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")  # as uvicorn does
    switches = Switches(app)
    async with app.router.lifespan_context(app):
        await _drive(served, requests.demo(DEMO_WARMUP))
        switches.set(identity="recording")
        # Each client's first contact: key imported, client read, token verified once.
        contact: dict[int, int] = {}
        for first in range(0, len(requests.clients), FIRST_CONTACT_CHUNK):
            chunk = min(FIRST_CONTACT_CHUNK, len(requests.clients) - first)
            for status, count in (await _drive(served, requests.dpop(chunk))).items():
                contact[status] = contact.get(status, 0) + count
        print(json.dumps({"first_contact": contact}), flush=True)
        figures: dict[str, list[float]] = {mode: [] for mode in modes}
        for number in range(rounds):
            for mode in modes if number % 2 == 0 else modes[::-1]:
                batch = _mode(requests, switches, mode, checks)
                if time.time() - requests.minted_at > lifetime - TOKEN_MARGIN_S:
                    raise SystemExit("the tokens would expire: fewer checks or rounds")
                probed = switches.probe.snapshot()
                before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                statuses = await _drive(served, batch)
                wall = time.perf_counter() - wall
                after = resource.getrusage(resource.RUSAGE_SELF)
                parts = Probe.per_check(probed, switches.probe.snapshot(), checks)
                user = (after.ru_utime - before.ru_utime) / checks * 1e6
                system = (after.ru_stime - before.ru_stime) / checks * 1e6
                figures[mode].append(user + system)
                print(json.dumps({
                    "mode": mode, "round": number, "cpu_us": round(user + system, 1),
                    "user_us": round(user, 1), "sys_us": round(system, 1),
                    "per_s": round(checks / wall, 1), "statuses": statuses, **parts,
                    "load": os.getloadavg()[0]}), flush=True)
        switches.set()
        print(json.dumps({"median_cpu_us": {mode: round(statistics.median(values), 1)
                                            for mode, values in figures.items()},
                          "load": os.getloadavg()}), flush=True)


def _requests(bench: BenchInstance, clients: int | None) -> Requests:
    bodies = draw_check_bodies(bench.instance.population_dir, count=CORPUS_SIZE, seed=SEED,
                               care_date=dt.date.today(), mix=CorpusMix())
    software = ensure_bench_clients(bench, count=clients)
    minted_at = time.time()
    return Requests(bodies=bodies, organisations=list(bench.organisation_ids),
                    clients=software, tokens=mint_tokens(bench, software),
                    minted_at=minted_at)


def main(argv: list[str] | None = None,
         on_stage: Callable[[str], None] = lambda _text: None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--clients", type=int, default=None,
                        help="the first C bench clients (default: all 20,000)")
    parser.add_argument("--token-cache-seconds", type=float, default=None,
                        help="how long a token's verified signature is kept (the "
                             "code's own access_tokens.VERIFIED_SECONDS by default)")
    parser.add_argument("--uvicorn-parse", type=int, default=0, metavar="N",
                        help="instead: N requests of each shape through uvicorn's "
                             "HTTP protocol to an app that only answers (no instance)")
    args = parser.parse_args(argv)
    if args.uvicorn_parse:
        from uvicorn_parse import measure_parsing  # scripts/uvicorn_parse.py

        measure_parsing(args.uvicorn_parse)
        return
    if args.token_cache_seconds is not None:
        access_tokens.VERIFIED_SECONDS = args.token_cache_seconds
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    bench = ensure_bench_instance(people=PEOPLE, seed=SEED, database_url=None,
                                  database_name=None, data_dir=args.data_dir,
                                  on_stage=on_stage)
    requests = _requests(bench, args.clients)
    os.environ.update({**bench.server_env, "REMPART_WORKERS": "1"})
    lifetime = bench.instance.settings.auth.access_token_seconds
    uvloop.run(_measure(requests, modes, args.checks, args.rounds, lifetime))


if __name__ == "__main__":
    main()
