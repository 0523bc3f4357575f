"""The bench's practice software: one API client per bench organisation, kept with the instance.

A real day's API checks come from tens of thousands of practices, each its own
registered client with its own DPoP key, each checking its own patients at a counter's
pace; a handful of clients firing hundreds of checks a second each is what the
exfiltration guard is there to stop. So the bench registers one client per bench
organisation (`BENCH_ORGANISATIONS`), once, when it first needs them on an instance,
through the production registration (`ApiClientService.register`: secret hashed, row
written, `auth.api_client_registered` in the audit log), and keeps their credentials
beside the instance (`CREDENTIALS_FILE`, mode 0600, like the instance's keyring): later
runs only read them, and re-register only if a client is gone or revoked.

Access tokens last minutes, so they are made for each run (`mint_tokens`): signed here
with the instance's own token-signing key (the bench holds the instance's keyring), as
the token endpoint would sign them, rather than asked of the endpoint 20,000 times a
run. Only the bench does this; the server verifies these tokens as any other (signature,
issuer, expiry, binding, client still active). One token per run is still asked of the
running server's `/oauth/token` (`fetch_token`), so the endpoint's path is exercised with
the same credentials; the endpoint under load is a phase of its own
(`rempart.bench.dpop_requests.TokenRequests`).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from joserfc.jwk import ECKey
from sqlalchemy import select

from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.access_tokens import AccessTokens
from rempart.auth.dpop_signer import DpopSigner
from rempart.auth.models import ApiClient
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.signing_keys import SigningKeys
from rempart.auth.tokens import ContactFields, new_token
from rempart.bench.bench_instance import BenchInstance
from rempart.bench.errors import BenchError
from rempart.clock import Clock, SystemClock
from rempart.runtime import Runtime

CREDENTIALS_FILE = "bench-api-clients.json"
FORMAT = 1
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)


@dataclass(frozen=True)
class ApiSoftware:
    """A registered client as its practice software holds it: id, secret, DPoP key
    (`dpop`, which signs its proofs on `clock`)."""

    client_id: str
    client_secret: str
    key: ECKey
    organisation_id: int = 0
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)
    dpop: DpopSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dpop", DpopSigner(clock=self.clock, key=self.key))


def ensure_bench_clients(bench: BenchInstance, *, count: int | None = None,
                         on_stage: Callable[[str], None] = lambda _text: None,
                         ) -> list[ApiSoftware]:
    """One client per bench organisation (the first `count`), registered once and kept."""
    organisations = bench.organisation_ids[:count] if count else bench.organisation_ids
    path = bench.directory / CREDENTIALS_FILE
    kept = _read(path)
    if kept is not None and [c.organisation_id for c in kept] == organisations \
            and _all_active(bench, kept):
        return kept
    on_stage(f"registering {len(organisations):,} API clients (once for this instance)")
    clients = register_clients(bench, organisations, on_stage=on_stage)
    _write(path, clients)
    return clients


def register_clients(bench: BenchInstance, organisations: Sequence[int], *,
                     on_stage: Callable[[str], None] = lambda _text: None,
                     ) -> list[ApiSoftware]:
    """A client on each organisation, registered by an operator admin made for the
    purpose (its password is random and never kept), each with its own P-256 key."""
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
        for done, organisation_id in enumerate(organisations, start=1):
            registered = auth.api_clients.register(actor=admin.actor,
                                                   organisation_id=organisation_id,
                                                   name=f"bench {suffix}")
            software.append(ApiSoftware(client_id=registered.info.client_id,
                                        client_secret=registered.client_secret,
                                        key=ECKey.generate_key("P-256", private=True),
                                        organisation_id=organisation_id))
            if done % 5_000 == 0:
                on_stage(f"registered {done:,} / {len(organisations):,} API clients")
        return software
    finally:
        runtime.close()


def mint_tokens(bench: BenchInstance, clients: Sequence[ApiSoftware]) -> list[str]:
    """An access token for each client, bound to its key, signed with the instance's
    token-signing key (made and stored on first use, as the server would)."""
    runtime = Runtime.open(bench.instance.settings, migrate=False)
    try:
        tokens = AccessTokens(keys=SigningKeys(engine=runtime.engine, vault=runtime.vault,
                                               clock=runtime.clock),
                              clock=runtime.clock, settings=runtime.settings.auth)
        return [tokens.issue(client_id=c.client_id, organisation_id=c.organisation_id,
                             jkt=c.dpop.jkt).access_token for c in clients]
    finally:
        runtime.close()


def fetch_token(client: ApiSoftware, base_url: str) -> str:
    """An access token from the server's token endpoint, bound to the client's key."""
    url = base_url + TOKEN_PATH
    answer = httpx.post(url, data={"grant_type": "client_credentials",
                                   "client_id": client.client_id,
                                   "client_secret": client.client_secret},
                        headers={"dpop": client.dpop.proof("POST", url)}, timeout=30.0)
    if answer.status_code != 200:
        raise BenchError(f"the token endpoint answered {answer.status_code}")
    token = answer.json().get("access_token")
    if not isinstance(token, str):
        raise BenchError("the token endpoint gave no access token")
    return token


def _all_active(bench: BenchInstance, clients: Sequence[ApiSoftware]) -> bool:
    runtime = Runtime.open(bench.instance.settings, migrate=False)
    try:
        with runtime.engine.connect() as conn:
            active = set(conn.scalars(select(ApiClient.client_id)
                                      .where(ApiClient.revoked_at.is_(None))))
    finally:
        runtime.close()
    return all(c.client_id in active for c in clients)


def _read(path: Path) -> list[ApiSoftware] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        return None
    try:
        return [ApiSoftware(client_id=c["client_id"], client_secret=c["client_secret"],
                            key=ECKey.import_key(c["key"]),
                            organisation_id=int(c["organisation_id"]))
                for c in raw["clients"]]
    except (KeyError, TypeError, ValueError):
        return None


def _write(path: Path, clients: Sequence[ApiSoftware]) -> None:
    """Atomically, readable by the owner only: the file holds secrets and private keys."""
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"format": FORMAT, "clients": [
            {"organisation_id": c.organisation_id, "client_id": c.client_id,
             "client_secret": c.client_secret, "key": c.key.as_dict(private=True)}
            for c in clients]}, out)
    os.replace(temporary, path)
