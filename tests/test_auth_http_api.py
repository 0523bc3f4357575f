"""The API behind real authentication: OAuth 2.0 client credentials with DPoP tokens.

No credentials, a session cookie, a copied token without its key, a forged, expired or
revoked token, a replayed proof: each is a 401 that names the failed check, is reported
as a security event without the token, and discloses nothing.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import Engine, func, select, update
from sqlalchemy import event as sa_event

from auth_support import DpopClient
from portal_support import BACKENDS, BASE_URL, Browser, PortalEnv, fresh, shared_portal
from rempart.auth.api_clients import ACTIVE_SECONDS
from rempart.auth.events import EventKind
from rempart.auth.models import ApiClient
from rempart.auth.roles import Role
from rempart.auth.signing_keys import CACHE_SECONDS
from rempart.coverage.models import Check
from rempart.web.auth_identity import FALLBACK_THREADS
from test_fhir import eligibility_request

TOKEN_URL = f"{BASE_URL}/oauth/token"
CHECKS_URL = f"{BASE_URL}/api/v1/checks"
FHIR_URL = f"{BASE_URL}/fhir/r4/CoverageEligibilityRequest/$submit"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


@pytest.fixture
def browser(env: PortalEnv) -> Browser:
    return env.browser(address="203.0.113.7")


@dataclasses.dataclass
class Software:
    env: PortalEnv
    browser: Browser
    client_id: str
    secret: str
    dpop: DpopClient
    admin_id: int

    def token_response(self, *, proof: str | None = None, **form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.secret, **form}
        headers = {"dpop": proof if proof is not None else self.dpop.proof("POST", TOKEN_URL)}
        return self.browser.post("/oauth/token", data=data, headers=headers)

    def token(self) -> str:
        answer = self.token_response()
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def check(self, token: str, *, key: DpopClient | None = None, scheme: str = "DPoP",
              proof: str | None = None, body: dict[str, Any] | None = None,
              ) -> httpx.Response:
        signer = key or self.dpop
        headers = {"authorization": f"{scheme} {token}",
                   "dpop": proof or signer.proof("POST", CHECKS_URL, access_token=token)}
        return self.browser.post("/api/v1/checks", headers=headers,
                                 json=body or self.env.population.alice.payload())


@pytest.fixture
def software(env: PortalEnv, browser: Browser) -> Software:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    registered = env.auth.api_clients.register(
        actor=env.auth.accounts.get(admin_id).actor,
        organisation_id=env.population.organisation_ids[0], name="Logiciel d'officine")
    return Software(env=env, browser=browser, client_id=registered.info.client_id,
                    secret=registered.client_secret, dpop=DpopClient(env.clock),
                    admin_id=admin_id)


def checks_recorded(env: PortalEnv) -> int:
    with env.runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Check)).scalar_one())


def assert_refused(answer: httpx.Response, error: str) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("DPoP ")
    assert f'error="{error}"' in answer.headers["www-authenticate"]


def test_without_credentials_the_api_is_401(env: PortalEnv, browser: Browser) -> None:
    before = checks_recorded(env)
    answer = browser.post("/api/v1/checks", json=env.population.alice.payload())
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"
    assert answer.headers["www-authenticate"].startswith('DPoP algs="ES256')
    fhir = browser.post("/fhir/r4/CoverageEligibilityRequest/$submit",
                        json=eligibility_request(env.population.alice))
    assert fhir.status_code == 401
    assert fhir.json()["resourceType"] == "OperationOutcome"
    assert browser.get("/api/v1/checks").status_code == 401
    assert checks_recorded(env) == before


def test_a_portal_session_is_not_an_api_credential(env: PortalEnv) -> None:
    signed_in, _, _, _ = env.signed_in()
    before = checks_recorded(env)
    assert signed_in.get("/portal/check").status_code == 200
    answer = signed_in.post("/api/v1/checks", json=env.population.alice.payload())
    assert answer.status_code == 401
    assert checks_recorded(env) == before


def test_a_dpop_bound_token_checks_coverage(env: PortalEnv, software: Software) -> None:
    issued = software.token_response()
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] == env.auth.settings.access_token_seconds
    token = body["access_token"]
    answer = software.check(token)
    assert answer.status_code == 201, answer.text
    assert answer.json()["covered"] is True
    listed = software.browser.get("/api/v1/checks", headers={
        "authorization": f"DPoP {token}",
        "dpop": software.dpop.proof("GET", CHECKS_URL, access_token=token)})
    assert [i["reference"] for i in listed.json()["items"]] == [answer.json()["reference"]]
    fhir = software.browser.post(
        "/fhir/r4/CoverageEligibilityRequest/$submit",
        json=eligibility_request(env.population.alice),
        headers={"authorization": f"DPoP {token}",
                 "dpop": software.dpop.proof("POST", FHIR_URL, access_token=token)})
    assert fhir.status_code == 200
    assert fhir.json()["outcome"] == "complete"
    assert env.events.of_kind(EventKind.API_TOKEN_ISSUED)


# What the DPoP check reads: its client's row (and the revocation poll), the signing key.
DPOP_TABLES = ("api_clients", "token_signing_keys")


@contextmanager
def dpop_reads(engine: Engine) -> Iterator[list[bool]]:
    """For each statement on DPOP_TABLES while open: whether it ran on the event loop."""
    on_loop: list[bool] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if any(table in statement for table in DPOP_TABLES):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                on_loop.append(False)  # a worker thread
            else:
                on_loop.append(True)

    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        yield on_loop
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)


def test_the_dpop_check_never_reads_the_database_on_the_event_loop(
        env: PortalEnv, software: Software) -> None:
    """On the loop, a read may wait for SQLite's lock or a pooled connection and stall
    every request: a client or signing key not yet known, or the revocation poll due, is
    read by a worker thread (with the replay store in the process a check is otherwise
    verified from memory alone, on the loop; with the database's, always in a thread)."""
    token, later = software.token(), software.token()
    with dpop_reads(env.runtime.engine) as on_loop:
        assert software.check(token).status_code == 201  # a client new to the process
        assert on_loop  # the client's row, read
        assert not any(on_loop)
        on_loop.clear()
        assert software.check(token).status_code == 201
        assert on_loop == []  # all known: nothing read at all
        env.clock.advance(ACTIVE_SECONDS)  # the revocation poll due
        assert software.check(token).status_code == 201
        env.clock.advance(CACHE_SECONDS)  # the signing key to be read again
        assert software.check(later).status_code == 201
        assert len(on_loop) >= 2  # the poll, the key
        assert not any(on_loop)


def test_a_known_clients_checks_are_verified_on_the_event_loop(
        env: PortalEnv, software: Software) -> None:
    """With the proofs' replay entries in the process (SQLite, one worker), only what
    needs a read goes to a worker thread; a refusal made on the loop is recorded too."""
    dpop = env.app.state.identity_source.dpop
    start = (dpop.on_loop, dpop.in_thread)

    def made() -> tuple[int, int]:  # (on the loop, in a thread) since the start
        return dpop.on_loop - start[0], dpop.in_thread - start[1]

    token = software.token()
    assert software.check(token).status_code == 201  # the client new to the process
    assert made() == (0, 1)
    for _ in range(3):
        assert software.check(token).status_code == 201
    if not env.auth.api_auth.verifies_in_memory:  # the database's or Redis's replay store
        assert made() == (0, 4)
        return
    assert made() == (3, 1)
    proof = software.dpop.proof("POST", CHECKS_URL, access_token=token)
    assert software.check(token, proof=proof).status_code == 201
    assert_refused(software.check(token, proof=proof), "invalid_dpop_proof")  # replayed
    assert_refused(software.check(token, key=DpopClient(env.clock)), "invalid_dpop_proof")
    assert made() == (4, 1)  # refusals are not counted as made
    refused = env.events.of_kind(EventKind.API_REQUEST_REFUSED)
    assert [event.reason for event in refused] == [
        "proof replayed (jti already used)", "proof key is not the key the token is bound to"]
    assert all(event.address == "203.0.113.7" for event in refused)


def test_an_overdue_revocation_poll_is_awaited_on_the_loop_not_in_a_thread(
        env: PortalEnv, software: Software) -> None:
    """After a quiet spell every check would find the poll due: they wait for one poll
    made in the background, and are then verified from memory."""
    if not env.auth.api_auth.verifies_in_memory:
        return
    dpop, clients = env.app.state.identity_source.dpop, env.auth.api_clients
    token = software.token()
    assert software.check(token).status_code == 201  # the client new to the process
    start = (dpop.on_loop, dpop.in_thread, clients.polls)
    env.clock.advance(ACTIVE_SECONDS)
    assert software.check(token).status_code == 201
    assert software.check(token).status_code == 201
    assert (dpop.on_loop - start[0], dpop.in_thread - start[1], clients.polls - start[2]) \
        == (2, 0, 1)
    with env.runtime.engine.begin() as conn:  # revoked by another worker process
        conn.execute(update(ApiClient).where(ApiClient.client_id == software.client_id)
                     .values(revoked_at=env.clock.now()))
    env.clock.advance(ACTIVE_SECONDS)
    assert_refused(software.check(token), "invalid_token")
    assert dpop.in_thread == start[1]


def test_checks_that_need_a_read_run_in_threads_started_beforehand(
        env: PortalEnv, software: Software) -> None:
    """Never a thread started on the event loop for them (it waited for the GIL behind
    the running checks): the pool's threads are all started before the first request."""
    if not env.auth.api_auth.verifies_in_memory:
        return  # every check in the server's own pool

    def pool() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("dpop-read")}

    started = pool()
    assert len(started) == FALLBACK_THREADS
    readers: list[str] = []
    token = software.token()  # the token endpoint reads the client too: not counted

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_clients" in statement and ">=" not in statement:  # not the poll's
            readers.append(threading.current_thread().name)

    sa_event.listen(env.runtime.engine, "before_cursor_execute", seen)
    try:
        assert software.check(token).status_code == 201  # the client read
    finally:
        sa_event.remove(env.runtime.engine, "before_cursor_execute", seen)
    assert readers
    assert all(name.startswith("dpop-read") for name in readers), readers
    assert pool() == started


def test_client_secret_basic_is_accepted(software: Software) -> None:
    answer = software.browser.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        auth=(software.client_id, software.secret),
        headers={"dpop": software.dpop.proof("POST", TOKEN_URL)})
    assert answer.status_code == 200, answer.text


def test_a_copied_token_without_its_key_is_refused(env: PortalEnv,
                                                   software: Software) -> None:
    token = software.token()
    before = checks_recorded(env)
    thief = DpopClient(env.clock)  # another machine: another key
    assert_refused(software.check(token, key=thief), "invalid_dpop_proof")
    assert_refused(software.check(token, scheme="Bearer"), "invalid_token")
    bare = software.browser.post("/api/v1/checks", json=env.population.alice.payload(),
                                 headers={"authorization": f"DPoP {token}"})
    assert_refused(bare, "invalid_dpop_proof")
    assert checks_recorded(env) == before
    refused = env.events.of_kind(EventKind.API_REQUEST_REFUSED)
    assert len(refused) == 3
    for event in refused:
        assert token not in repr(event)
        assert event.address == "203.0.113.7"


def test_forged_expired_revoked_tokens_and_replayed_proofs_are_refused(
        env: PortalEnv, software: Software) -> None:
    token = software.token()
    before = checks_recorded(env)
    # Forged: the same claims signed by a key that is not the service's.
    header, claims = _parts(token)
    forged = jwt.encode(header, claims, ECKey.generate_key("P-256", private=True),
                        algorithms=["ES256"], default_type=None)
    assert_refused(software.check(forged), "invalid_token")
    # Replayed: the very same proof twice.
    proof = software.dpop.proof("POST", CHECKS_URL, access_token=token)
    assert software.check(token, proof=proof).status_code == 201
    assert_refused(software.check(token, proof=proof), "invalid_dpop_proof")
    # A proof for another URL.
    elsewhere = software.dpop.proof("POST", f"{BASE_URL}/api/v1/claims", access_token=token)
    assert_refused(software.check(token, proof=elsewhere), "invalid_dpop_proof")
    # Expired.
    env.clock.advance(env.auth.settings.access_token_seconds + 1)
    answer = software.check(token)
    assert_refused(answer, "invalid_token")
    assert "expired" in answer.json()["error"]["message"]
    # Revoked: a fresh token stops working at once.
    fresh_token = software.token()
    admin = env.auth.accounts.get(software.admin_id)
    env.auth.api_clients.revoke(actor=admin.actor, client_id=software.client_id)
    assert_refused(software.check(fresh_token), "invalid_token")
    assert checks_recorded(env) == before + 1


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(text: str) -> dict[str, Any]:
        return dict(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))

    head, body, _ = token.split(".")
    return part(head), part(body)


@pytest.mark.parametrize(("form", "proof", "status", "error"), [
    ({"client_secret": "not-the-secret"}, None, 401, "invalid_client"),
    ({"client_id": "rc_unknown"}, None, 401, "invalid_client"),
    ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
    ({}, "", 400, "invalid_dpop_proof"),
    ({}, "not.a.proof", 400, "invalid_dpop_proof"),
])
def test_the_token_endpoint_refuses_clearly(software: Software, form: dict[str, str],
                                            proof: str | None, status: int,
                                            error: str) -> None:
    answer = software.token_response(proof=proof, **form)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.headers["cache-control"] == "no-store"
    assert "access_token" not in answer.json()
    for event in software.env.events.events:
        assert software.secret not in repr(event)


def test_malformed_token_requests_are_invalid_requests(software: Software) -> None:
    browser = software.browser
    as_json = browser.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    twice = browser.post("/oauth/token", content=b"grant_type=a&grant_type=b",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert (twice.status_code, twice.json()["error"]) == (400, "invalid_request")
    binary = browser.post("/oauth/token", content=b"grant_type=\xff\xfe",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert (binary.status_code, binary.json()["error"]) == (400, "invalid_request")
    huge = browser.post("/oauth/token", data={"grant_type": "client_credentials",
                                              "client_secret": secrets.token_hex(600)})
    assert (huge.status_code, huge.json()["error"]) == (400, "invalid_request")
    assert not software.env.events.of_kind(EventKind.API_TOKEN_ISSUED)
