"""The authenticated phases' requests: many practices' API clients, DPoP tokens, a proof each.

What practice software does, made before each slice so that the load generator only
sends bytes:

1. one API client per bench organisation (20,000), each with its own P-256 key,
   registered once with the instance (`rempart.bench.api_clients`);
2. each client's access token, made for the run (and made again before it expires),
   one of them asked of the running server's `/oauth/token`;
3. every check request carries `Authorization: DPoP <token>` and a fresh proof for
   `POST <url>` with `ath` bound to the token, and comes from its practice's own
   address (`X-Forwarded-For`, as the operator's reverse proxy would tell it: the bench
   plays the proxy on loopback, which uvicorn trusts by default and `running_server`
   sets as a trusted proxy for granian).

The phase runs on the default server, exfiltration guard on, beside the demo-identity
checks it is compared with. It is spread as those are: request n goes to client
n mod C, and each client checks another patient of the corpus on each pass over the
clients (shifted by ROTATION_STRIDE per pass, and by half the corpus from the demo
sessions of the same organisations), so no client re-sends a card within a run and
each checks at a counter's pace (at 2,500 checks/s, one check per client every 8 s).
Proofs are single-use (the server refuses a replayed jti), so one is made per request
sent, never cycled: requests for the highest rate a load may reach over its whole
duration, made anew for each slice, going on in the rotation after the last slice's.

A proof is accepted for `dpop_iat_window_seconds` after it was made (60 s), so a
slice must end within that window of its first proof: `check_fresh_enough` refuses a
slice that cannot, rather than let the server refuse its proofs.

The token endpoint's phase (`TokenRequests`) has the same clients ask `/oauth/token`
for a token, in turn (request n from client n mod C, from its own address): client
credentials in the form and a fresh proof each, as practice software does every few
minutes. Each answer is a token signed, a proof checked and recorded against replay,
and `auth.api_token_issued` in the audit log, so its rate and server CPU are per token.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rempart.auth.config import AuthSettings
from rempart.bench.api_clients import (
    TOKEN_PATH,
    ApiSoftware,
    ensure_bench_clients,
    fetch_token,
    mint_tokens,
)
from rempart.bench.bench_instance import BenchInstance
from rempart.bench.checks_bench import (
    AUTHENTICATED_PHASE,
    CHECKS_PATH,
    ROTATION_STRIDE,
    TOKEN_PHASE,
    BenchOptions,
    Phase,
    post_request,
)
from rempart.bench.errors import BenchError
from rempart.bench.load import LoadSpec, run_load
from rempart.bench.server import RunningServer, group_cpu_seconds

__all__ = ["ApiSoftware", "DpopRequests", "TokenRequests", "check_fresh_enough",
           "fetch_token", "practice_requests", "proofs_needed", "token_requests",
           "with_authentication"]

# Checks per second the phase's proofs are made for: above what the server answers with
# the demo identity (about 4,400/s guard off on the 2-core bench machine), which bounds
# this phase.
MAX_RATE = 6_000
# Token requests per second the token phase's proofs are made for: above what the
# endpoint answers on the 2-core bench machine (a few hundred a second), which bounds it.
MAX_TOKEN_RATE = 2_000
FRESHNESS_MARGIN_S = 10.0  # slack between the last answer and the proofs' window
# The clients' first contact goes in chunks, each sent within the proofs' window.
FIRST_CONTACT_CHUNK = 2_000
FIRST_CONTACT_LIMIT_S = 45.0
# Tokens are made again when less than this is left of their lifetime.
TOKEN_RENEWAL_MARGIN_S = 90.0


def proofs_needed(seconds: float, *, rate: int = MAX_RATE) -> int:
    """Requests to make for a load of `seconds` (warm-up included): `rate` throughout."""
    return math.ceil(rate * seconds)


def check_fresh_enough(*, made_at: float, seconds: float,
                       window: int = AuthSettings().dpop_iat_window_seconds) -> None:
    """Refuse a load whose last request would carry a proof older than the window."""
    age_at_end = time.time() - made_at + seconds + FRESHNESS_MARGIN_S
    if age_at_end > window:
        raise BenchError(f"an authenticated slice must end within {window} s of its first "
                         f"DPoP proof (it would take {age_at_end:.0f} s): shorter slices")


def client_address(index: int) -> str:
    """The practice's own address, one /24 each (as the demo sessions have)."""
    return f"10.{index % 250}.{index // 250 % 250}.1"


def practice_requests(path: str, bodies: Sequence[bytes], *, server: RunningServer,
                      clients: Sequence[ApiSoftware], tokens: Sequence[str], first: int,
                      count: int) -> list[bytes]:
    """Requests `first` to `first + count` of the rotation: request n from client n mod C
    (its token, a fresh proof, its address), for the patient of its pass (see above)."""
    host = f"{server.host}:{server.port}".encode()
    url = f"http://{server.host}:{server.port}{path}"
    size, corpus = len(clients), len(bodies)
    requests = []
    for n in range(first, first + count):
        index = n % size
        client, token = clients[index], tokens[index]
        body = bodies[(n + n // size * ROTATION_STRIDE + corpus // 2) % corpus]
        requests.append(post_request(path, body, host=host, headers={
            "authorization": f"DPoP {token}",
            "dpop": client.dpop.proof("POST", url, access_token=token),
            "x-forwarded-for": client_address(index)}))
    return requests


def token_requests(*, server: RunningServer, clients: Sequence[ApiSoftware], first: int,
                   count: int) -> list[bytes]:
    """Token requests `first` to `first + count`: request n from client n mod C (its
    credentials in the form, a fresh proof, its address)."""
    host = f"{server.host}:{server.port}".encode()
    url = f"http://{server.host}:{server.port}{TOKEN_PATH}"
    requests = []
    for n in range(first, first + count):
        index = n % len(clients)
        client = clients[index]
        form = urlencode({"grant_type": "client_credentials", "client_id": client.client_id,
                          "client_secret": client.client_secret}).encode()
        requests.append(post_request(TOKEN_PATH, form, host=host,
                                     content_type="application/x-www-form-urlencoded",
                                     headers={"dpop": client.dpop.proof("POST", url),
                                              "x-forwarded-for": client_address(index)}))
    return requests


@dataclass
class _Holders:
    clients: list[ApiSoftware]
    tokens: list[str]
    minted_at: float
    lifetime: int


class DpopRequests:
    """A `RequestBuilder` for the authenticated phase: single-use requests for each load,
    from the instance's bench clients, going on in their rotation from load to load."""

    def __init__(self, clients: int | None = None) -> None:
        self._count = clients
        self._holders: dict[Path, _Holders] = {}  # by instance directory
        self._probed: set[str] = set()  # servers whose token endpoint gave a token
        self._cursor = 0
        self._contact: dict[str, Any] = {}

    def __call__(self, *, path: str, bodies: Sequence[bytes], server: RunningServer,
                 bench: BenchInstance, seconds: float) -> list[bytes]:
        base_url = f"http://{server.host}:{server.port}"
        holders = self._holders_for(bench, seconds)
        if base_url not in self._probed:
            # The endpoint's own path, once per server: the same credentials work there.
            fetch_token(holders.clients[0], base_url)
            self._probed.add(base_url)
            self._first_contact(path, bodies, server, holders)
        made_at = time.time()
        requests = practice_requests(path, bodies, server=server, clients=holders.clients,
                                     tokens=holders.tokens, first=self._cursor,
                                     count=proofs_needed(seconds))
        # The next load goes on after these (those not sent are skipped, never re-sent).
        self._cursor += len(requests)
        check_fresh_enough(made_at=made_at, seconds=seconds)
        return requests

    def figures(self) -> dict[str, Any]:
        """For the run's JSON object: what the clients' first contact cost."""
        return {"auth_first_contact": self._contact} if self._contact else {}

    def _first_contact(self, path: str, bodies: Sequence[bytes], server: RunningServer,
                       holders: _Holders) -> None:
        """Each client's first check on this server, before the phase is measured: a
        server in service has met its practices before (their keys imported, their
        clients looked up, their tokens verified once per token lifetime), where in a
        run of seconds most of 20,000 clients would call once. Unmeasured, in chunks
        (proofs must stay fresh); its own rate and server CPU are reported apart."""
        pgid = server.pid
        cpu = group_cpu_seconds(pgid)
        started = time.perf_counter()
        statuses: Counter[str] = Counter()
        size = len(holders.clients)
        for first in range(0, size, FIRST_CONTACT_CHUNK):
            requests = practice_requests(path, bodies, server=server,
                                         clients=holders.clients, tokens=holders.tokens,
                                         first=self._cursor + first,
                                         count=min(FIRST_CONTACT_CHUNK, size - first))
            spec = LoadSpec(host=server.host, port=server.port, requests=requests,
                            seconds=FIRST_CONTACT_LIMIT_S, warmup=0.0,
                            max_requests=len(requests))
            statuses.update(asyncio.run(run_load(spec)).statuses)
        self._cursor += size
        seconds = time.perf_counter() - started
        answered = sum(statuses.values())
        self._contact = {
            "requests": size, "statuses": dict(sorted(statuses.items())),
            "per_s": round(answered / seconds, 1) if seconds else None,
            "server_cpu_us_per_request": round((group_cpu_seconds(pgid) - cpu)
                                               / answered * 1e6, 1) if answered else None}

    def clients_for(self, bench: BenchInstance) -> list[ApiSoftware]:
        """The instance's bench clients (registered on first use), as this phase holds them."""
        return self._held(bench).clients

    def _held(self, bench: BenchInstance) -> _Holders:
        holders = self._holders.get(bench.directory)
        if holders is None:
            holders = _Holders(clients=ensure_bench_clients(bench, count=self._count),
                               tokens=[], minted_at=0.0,
                               lifetime=bench.instance.settings.auth.access_token_seconds)
            self._holders[bench.directory] = holders
        return holders

    def _holders_for(self, bench: BenchInstance, seconds: float) -> _Holders:
        """The clients, and their tokens made again if they would expire within the load."""
        holders = self._held(bench)
        left = holders.minted_at + holders.lifetime - time.time()
        if left < seconds + TOKEN_RENEWAL_MARGIN_S:
            holders.minted_at = time.time()
            holders.tokens = mint_tokens(bench, holders.clients)
        return holders


class TokenRequests:
    """A `RequestBuilder` for the token endpoint's phase: single-use token requests for
    each load, from the bench clients `clients_for` gives, going on in their rotation."""

    def __init__(self, clients_for: Callable[[BenchInstance], Sequence[ApiSoftware]]) -> None:
        self._clients_for = clients_for
        self._cursor = 0

    def __call__(self, *, path: str, bodies: Sequence[bytes], server: RunningServer,
                 bench: BenchInstance, seconds: float) -> list[bytes]:
        clients = self._clients_for(bench)
        made_at = time.time()
        requests = token_requests(server=server, clients=clients, first=self._cursor,
                                  count=proofs_needed(seconds, rate=MAX_TOKEN_RATE))
        self._cursor += len(requests)
        check_fresh_enough(made_at=made_at, seconds=seconds)
        return requests


def with_authentication(options: BenchOptions, *, clients: int | None = None) -> BenchOptions:
    """The same run plus the checks sent by the bench's API clients with DPoP, on the
    default server (exfiltration guard on), beside its demo-identity checks; and the
    same clients asking the token endpoint for tokens, in turn with them."""
    checks = DpopRequests(clients)
    return replace(options, phases=(
        *options.phases,
        Phase(AUTHENTICATED_PHASE, CHECKS_PATH, single_use=True, build=checks),
        Phase(TOKEN_PHASE, TOKEN_PATH, single_use=True,
              build=TokenRequests(checks.clients_for))))
