"""The authenticated phase's requests: API clients, DPoP-bound tokens, one proof per request.

What practice software does, made before the phase so that the load generator only
sends bytes:

1. an operator admin of the bench registers `CLIENTS` API clients, one per
   organisation, each with a P-256 key of its own;
2. each client gets its access token from the running server's `/oauth/token`
   (client credentials, with a DPoP proof for that request);
3. every check request carries `Authorization: DPoP <token>` and a fresh proof for
   `POST <url>` with `ath` bound to the token. Proofs are single-use (the server
   refuses a replayed jti), so one is made per request sent, never cycled: requests
   for the highest rate a load may reach over its whole duration, made anew for each
   slice of the phase (the clients and their tokens are made once per server).

A proof is accepted for `dpop_iat_window_seconds` after it was made (60 s), so a
slice must end within that window of its first proof: `check_fresh_enough` refuses a
slice that cannot, rather than let the server refuse its proofs.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.config import AuthSettings
from rempart.auth.dpop import b64url_sha256
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields, new_token
from rempart.bench.bench_instance import BenchInstance
from rempart.bench.checks_bench import (
    AUTHENTICATED_PHASE,
    CHECKS_PATH,
    GUARD_OFF_PHASE,
    BenchOptions,
    Phase,
    post_request,
)
from rempart.bench.errors import BenchError
from rempart.bench.server import RunningServer
from rempart.runtime import Runtime

CLIENTS = 8  # API clients, each its own organisation and key
# Checks per second the phase's proofs are made for: above what the guard-off server
# answers with the demo identity (about 4,400/s on the 2-core bench machine), which
# bounds this phase now that the replay check no longer commits per request.
MAX_RATE = 6_000
FRESHNESS_MARGIN_S = 10.0  # slack between the last answer and the proofs' window
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)


def proofs_needed(seconds: float) -> int:
    """Requests to make for a load of `seconds` (warm-up included): MAX_RATE throughout."""
    return math.ceil(MAX_RATE * seconds)


def check_fresh_enough(*, made_at: float, seconds: float,
                       window: int = AuthSettings().dpop_iat_window_seconds) -> None:
    """Refuse a load whose last request would carry a proof older than the window."""
    age_at_end = time.time() - made_at + seconds + FRESHNESS_MARGIN_S
    if age_at_end > window:
        raise BenchError(f"an authenticated slice must end within {window} s of its first "
                         f"DPoP proof (it would take {age_at_end:.0f} s): shorter slices")


@dataclass(frozen=True)
class ApiSoftware:
    """A registered client as the bench holds it: id, secret and its DPoP key."""

    client_id: str
    client_secret: str
    key: ECKey

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        claims: dict[str, object] = {"jti": secrets.token_urlsafe(16), "htm": method,
                                     "htu": url, "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = b64url_sha256(access_token)
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"], default_type=None)


def register_clients(bench: BenchInstance, count: int) -> list[ApiSoftware]:
    """`count` API clients on the bench's first organisations, registered by an operator
    admin made for this run (its password is random and never kept)."""
    runtime = Runtime.open(bench.instance.settings, migrate=False)
    try:
        # Recorded in the audit log as always, but not logged: the bench's standard
        # output is its JSON object.
        auth = AuthServices.build(runtime, events=AuditSecurityEventSink(
            audit=AuditLog(engine=runtime.engine, clock=runtime.clock)))
        suffix = secrets.token_hex(6)
        admin = auth.accounts.create_account(
            contact=ContactFields(f"bench-{suffix}@bench.invalid", "Bench operator"),
            password=new_token(), role=Role.OPERATOR_ADMIN, organisation_id=None)
        software = []
        for organisation_id in bench.organisation_ids[:count]:
            registered = auth.api_clients.register(actor=admin.actor,
                                                   organisation_id=organisation_id,
                                                   name=f"bench {suffix}")
            software.append(ApiSoftware(client_id=registered.info.client_id,
                                        client_secret=registered.client_secret,
                                        key=ECKey.generate_key("P-256", private=True)))
        return software
    finally:
        runtime.close()


def fetch_token(client: ApiSoftware, base_url: str) -> str:
    """An access token from the server's token endpoint, bound to the client's key."""
    url = base_url + TOKEN_PATH
    answer = httpx.post(url, data={"grant_type": "client_credentials",
                                   "client_id": client.client_id,
                                   "client_secret": client.client_secret},
                        headers={"dpop": client.proof("POST", url)}, timeout=30.0)
    if answer.status_code != 200:
        raise BenchError(f"the token endpoint answered {answer.status_code}")
    token = answer.json().get("access_token")
    if not isinstance(token, str):
        raise BenchError("the token endpoint gave no access token")
    return token


class DpopRequests:
    """A `RequestBuilder` for the authenticated phase: single-use requests for each load,
    from clients registered (and given their tokens) once per server."""

    def __init__(self, clients: int = CLIENTS) -> None:
        self._clients = clients
        self._tokens: dict[str, list[tuple[ApiSoftware, str]]] = {}  # by server URL

    def __call__(self, *, path: str, bodies: Sequence[bytes], server: RunningServer,
                 bench: BenchInstance, seconds: float) -> list[bytes]:
        base_url = f"http://{server.host}:{server.port}"
        if base_url not in self._tokens:
            self._tokens[base_url] = [(client, fetch_token(client, base_url))
                                      for client in register_clients(bench, self._clients)]
        holders = self._tokens[base_url]
        host, url = f"{server.host}:{server.port}".encode(), base_url + path
        made_at = time.time()
        requests = []
        for i in range(proofs_needed(seconds)):
            client, token = holders[i % len(holders)]
            requests.append(post_request(path, bodies[i % len(bodies)], host=host, headers={
                "authorization": f"DPoP {token}",
                "dpop": client.proof("POST", url, access_token=token)}))
        check_fresh_enough(made_at=made_at, seconds=seconds)
        return requests


def with_authentication(options: BenchOptions) -> BenchOptions:
    """The same run plus the checks sent by API clients with DPoP, measured beside the
    demo-identity checks on the server without the exfiltration guard: at benchmark
    rates each client is one session firing hundreds of checks a second, which the
    guard rightly stops, so with it on the phase would measure refusals."""
    base = options.with_guard_off()
    phase = Phase(AUTHENTICATED_PHASE, CHECKS_PATH, variant=GUARD_OFF_PHASE.variant,
                  single_use=True, build=DpopRequests())
    return replace(base, phases=(*base.phases, phase))
