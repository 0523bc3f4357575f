"""Test support for the authentication domain: a real environment on a manual clock,
a software WebAuthn authenticator (EC P-256, packed or none attestation) and a DPoP
client, both built with `cryptography`/joserfc so the services see real payloads."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import struct
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import psycopg
import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert

from rempart.auth.client import ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.dpop_signer import DpopSigner
from rempart.auth.events import MemoryEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.sessions import IssuedSession
from rempart.auth.tokens import ContactFields
from rempart.clock import ManualClock
from rempart.core.identifiers import build_rpps, build_siret
from rempart.providers.models import Organisation, Professional
from rempart.runtime import Runtime
from rempart.settings import Settings

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
PASSWORD = "correct horse battery staple 42"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/131.0 Safari/537.36")
OTHER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# Flows hash and verify many passwords: a cheap Argon2id keeps them fast. The OWASP
# parameters themselves are tested in test_auth_passwords.py and measured by
# scripts/bench_auth.py.
TEST_AUTH = AuthSettings(argon2_time_cost=1, argon2_memory_kib=2048)
TEST_HASH_PREFIX = "$argon2id$v=19$m=2048,t=1,p=1$"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AuthEnv:
    runtime: Runtime
    clock: ManualClock
    events: MemoryEventSink
    auth: AuthServices
    org_id: int
    other_org_id: int
    professional_id: int
    _counter: int = 0

    def client(self, address: str = "192.0.2.10", agent: str = BROWSER,
               device: str | None = None) -> ClientInfo:
        return ClientInfo(address=address, user_agent=agent, device_token=device)

    def address(self) -> str:
        """An address no other test used, so address throttling stays per test."""
        self._counter += 1
        return f"198.51.{self._counter // 250}.{self._counter % 250 + 1}"

    def email(self, stem: str = "user") -> str:
        self._counter += 1
        return f"{stem}{self._counter}@pharmacie.example"

    def account(self, *, role: Role = Role.PROVIDER_USER, org: int | None = None,
                email: str | None = None, password: str = PASSWORD) -> tuple[int, str]:
        """An active account made through the bootstrap path; returns (id, e-mail)."""
        address = email or self.email()
        organisation = None if role.is_operator else (org or self.org_id)
        view = self.auth.accounts.create_account(
            contact=ContactFields(address, "Marie Testeuse"), password=password, role=role,
            organisation_id=organisation)
        return view.id, address

    def with_totp(self, email: str, *, client: ClientInfo | None = None) -> tuple[
            IssuedSession, str, list[str]]:
        """Log in with the password and enrol TOTP (first login); returns the FULL
        session, the TOTP secret and the recovery codes."""
        client = client or self.client()
        first = self.auth.login.password_login(login=email, password=PASSWORD, client=client)
        device_client = ClientInfo(client.address, client.user_agent,
                                   first.session.device_token)
        enrolment = self.auth.enrolment.begin_totp(session_token=first.session.token,
                                                   client=device_client)
        result = self.auth.enrolment.confirm_totp(
            session_token=first.session.token, client=device_client,
            code=totp_now(enrolment.secret, self.clock))
        if result.session is None:
            raise RuntimeError("a first enrolment renews the session")
        return result.session, enrolment.secret, result.recovery_codes


def totp_now(secret: str, clock: ManualClock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + dt.timedelta(seconds=30 * offset_steps))


def add_organisations(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.engine.begin() as conn:
        ids = []
        for n in (1, 2):
            ids.append(conn.execute(insert(Organisation).values(
                siret=build_siret(siren_body=12345670 + n, establishment=1),
                finess=None, name=f"Pharmacie {n}", profession="pharmacist",
                postcode="75011", departement="75")).inserted_primary_key[0])
        professional = conn.execute(insert(Professional).values(
            rpps=build_rpps(1000000001), organisation_id=ids[0],
            profession="pharmacist")).inserted_primary_key[0]
    return int(ids[0]), int(ids[1]), int(professional)


@contextmanager
def backend_settings(backend: str, directory: Path) -> Iterator[Settings]:
    """Settings on SQLite or on a fresh PostgreSQL database (as tests/conftest.py makes
    them), for fixtures that share one instance across a module."""
    sqlite = Settings.load(data_dir=directory, database_url=f"sqlite:///{directory / 'r.db'}",
                           key_file=directory / "keyring.json")
    if backend == "sqlite":
        yield sqlite
        return
    server = os.environ.get("REMPART_TEST_POSTGRES_URL",
                            "postgresql://postgres@127.0.0.1:5432/test")
    name = f"rempart_auth_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("REMPART_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Settings.load(data_dir=directory, database_url=f"{server.rpartition('/')[0]}/{name}",
                            key_file=directory / "keyring.json")
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def shared_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    """Body of a module-scoped fixture: one instance per backend for a whole module
    (migrating a database per test would dominate the run time)."""
    directory = tmp_path_factory.mktemp("auth")
    with backend_settings(str(request.param), directory) as settings, auth_env(settings) as env:
        yield env


def fresh(env: AuthEnv) -> AuthEnv:
    """Body of the per-test fixture: an hour later (every throttle window and session of
    earlier tests has expired) and no events yet."""
    env.clock.advance(3600)
    env.events.events.clear()
    return env


@contextmanager
def auth_env(settings: Settings, auth_settings: AuthSettings | None = None) -> Iterator[AuthEnv]:
    clock = ManualClock(START)
    runtime = Runtime.open(settings, clock=clock, create_keys=True)
    try:
        events = MemoryEventSink()
        services = AuthServices.build(runtime, events=events,
                                      settings=auth_settings or TEST_AUTH)
        org, other, professional = add_organisations(runtime)
        yield AuthEnv(runtime=runtime, clock=clock, events=events, auth=services, org_id=org,
                      other_org_id=other, professional_id=professional)
    finally:
        runtime.close()


# -- a software WebAuthn authenticator ------------------------------------------------


@dataclass
class SoftAuthenticator:
    """An EC P-256 authenticator, answering options the way a browser would."""

    origin: str = ORIGIN
    rp_id: str | None = None  # None: use the rp id the options name
    attestation: str = "none"  # or "packed" (self attestation)
    user_verified: bool = True
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    user_handle: bytes = b""

    def _flags(self, attested: bool) -> int:
        return 0x01 | (0x04 if self.user_verified else 0) | (0x40 if attested else 0)

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def create(self, options_json: str) -> dict[str, Any]:
        options = json.loads(options_json)
        rp_id = self.rp_id or options["rp"]["id"]
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"])
        self.sign_count += 1
        auth_data = (hashlib.sha256(rp_id.encode()).digest()
                     + bytes([self._flags(True)]) + struct.pack(">I", self.sign_count)
                     + bytes(16) + struct.pack(">H", len(self.credential_id))
                     + self.credential_id + self._cose_key())
        statement: dict[str, Any] = {}
        if self.attestation == "packed":
            signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                      ec.ECDSA(hashes.SHA256()))
            statement = {"alg": -7, "sig": signature}
        attestation = cbor2.dumps({"fmt": self.attestation, "attStmt": statement,
                                   "authData": auth_data})
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "attestationObject": b64url(attestation)}}

    def get(self, options_json: str, *, counter_step: int = 1) -> dict[str, Any]:
        options = json.loads(options_json)
        rp_id = self.rp_id or options["rpId"]
        client_data = self._client_data("webauthn.get", options["challenge"])
        self.sign_count += counter_step
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(False)])
                     + struct.pack(">I", self.sign_count))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(self.user_handle)}}


# -- a DPoP client ------------------------------------------------------------------------


class DpopClient(DpopSigner):
    """The practice software's signer on a test's clock, with the knobs to forge a proof."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)

    def proof(self, method: str, url: str, *, access_token: str | None = None,
              iat_offset: float = 0, jti: str | None = None,
              header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None,
              ) -> str:
        body = self.claims(method, url, access_token=access_token)
        body["iat"] = int(self.clock.now().timestamp() + iat_offset)
        if jti is not None:
            body["jti"] = jti
        body.update(claims or {})
        return self.sign(body, header=header)
