"""API clients: OAuth 2.0 client credentials with DPoP-bound, short-lived tokens."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import func, select, text

from auth_support import BACKENDS, TEST_AUTH, AuthEnv, DpopClient, fresh, shared_env
from rempart.audit.records import LONG_DIGITS
from rempart.audit.security_sink import safe_detail
from rempart.auth.access_tokens import AccessTokens
from rempart.auth.api_clients import ACTIVE_SECONDS, RegisteredClient, new_client_id
from rempart.auth.dpop import htu_matches, normalise_htu
from rempart.auth.dpop_signer import DpopSigner
from rempart.auth.errors import (
    ClientAuthFailed,
    InvalidAccessToken,
    InvalidDpopProof,
    InvalidInput,
    NotPermitted,
)
from rempart.auth.events import EventKind, MemoryEventSink
from rempart.auth.models import DpopProofReplay
from rempart.auth.replay import PURGE_EVERY, DbReplayCache
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.signing_keys import SigningKeys
from rempart.clock import SystemClock
from rempart.runtime import Runtime
from rempart.settings import Settings

TOKEN_URL = "https://api.rempart.example/oauth/token"
CHECK_URL = "https://api.rempart.example/v1/checks"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


@dataclass
class Software:
    """Practice software: its registered client and its DPoP key."""

    env: AuthEnv
    registered: RegisteredClient
    dpop: DpopClient

    def token(self) -> str:
        issued = self.env.auth.api_auth.token(
            grant_type="client_credentials", client_id=self.registered.info.client_id,
            client_secret=self.registered.client_secret,
            dpop_proof=self.dpop.proof("POST", TOKEN_URL), method="POST", url=TOKEN_URL)
        return issued.access_token

    def call(self, token: str, *, proof: str | None = None, scheme: str = "DPoP",
             method: str = "POST", url: str = CHECK_URL) -> int:
        principal = self.env.auth.api_auth.authenticate(
            authorization=f"{scheme} {token}",
            dpop_proof=proof or self.dpop.proof(method, url, access_token=token),
            method=method, url=url, address="198.51.100.9")
        return principal.organisation_id


@pytest.fixture
def software(env: AuthEnv) -> Software:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    registered = env.auth.api_clients.register(
        actor=env.auth.accounts.get(admin_id).actor, organisation_id=env.org_id,
        name="Logiciel d'officine")
    return Software(env=env, registered=registered, dpop=DpopClient(env.clock))


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# -- the happy path ---------------------------------------------------------------------------


def test_a_token_is_short_lived_and_bound_to_the_clients_key(software: Software) -> None:
    issued = software.env.auth.api_auth.token(
        grant_type="client_credentials", client_id=software.registered.info.client_id,
        client_secret=software.registered.client_secret,
        dpop_proof=software.dpop.proof("POST", TOKEN_URL), method="POST", url=TOKEN_URL)
    assert issued.token_type == "DPoP"
    assert issued.expires_in == 300
    claims = claims_of(issued.access_token)
    assert claims["cnf"] == {"jkt": software.dpop.key.thumbprint()}
    assert claims["org"] == software.env.org_id
    assert software.call(issued.access_token) == software.env.org_id
    kinds = software.env.events.kinds()
    assert EventKind.API_TOKEN_ISSUED in kinds
    assert software.registered.client_secret not in repr(software.env.events.events)


def test_a_signers_proofs_carry_its_own_clocks_time(software: Software) -> None:
    """The drill's practice software signs on the simulated clock the server under drill
    reads; a signer on the system clock is months away from that one."""
    env = software.env
    simulated = DpopSigner(clock=env.clock, key=software.dpop.key)
    env.clock.advance(3 * 86_400)  # days pass in a drill
    token = software.token()
    assert claims_of(simulated.proof("POST", CHECK_URL))["iat"] == int(
        env.clock.now().timestamp())
    assert software.call(token, proof=simulated.proof("POST", CHECK_URL,
                                                      access_token=token)) == env.org_id
    wall = DpopSigner(clock=SystemClock(), key=software.dpop.key)
    assert wall.jkt == simulated.jkt == software.dpop.key.thumbprint()
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=wall.proof("POST", CHECK_URL, access_token=token))
    assert caught.value.reason == "iat outside the accepted window"


def test_each_request_needs_its_own_proof(software: Software) -> None:
    token = software.token()
    for _ in range(3):
        software.call(token)


# -- the copied token (scenario S9) ----------------------------------------------------------


def test_a_token_copied_to_another_machine_is_useless(software: Software) -> None:
    token = software.token()
    thief = DpopClient(software.env.clock)
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=thief.proof("POST", CHECK_URL, access_token=token))
    assert caught.value.reason == "proof key is not the key the token is bound to"
    refused = software.env.events.of_kind(EventKind.API_REQUEST_REFUSED)
    assert refused[-1].address == "198.51.100.9"
    assert token not in repr(software.env.events.events)


def test_a_replayed_proof_is_refused(software: Software) -> None:
    token = software.token()
    proof = software.dpop.proof("POST", CHECK_URL, access_token=token)
    software.call(token, proof=proof)
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=proof)
    assert caught.value.reason == "proof replayed (jti already used)"


def test_a_replayed_token_request_proof_is_refused(software: Software) -> None:
    proof = software.dpop.proof("POST", TOKEN_URL)
    kwargs = {"grant_type": "client_credentials",
              "client_id": software.registered.info.client_id,
              "client_secret": software.registered.client_secret, "dpop_proof": proof,
              "method": "POST", "url": TOKEN_URL}
    software.env.auth.api_auth.token(**kwargs)
    with pytest.raises(InvalidDpopProof):
        software.env.auth.api_auth.token(**kwargs)


def test_the_bearer_scheme_is_refused_for_a_bound_token(software: Software) -> None:
    token = software.token()
    with pytest.raises(InvalidAccessToken) as caught:
        software.call(token, scheme="Bearer")
    assert "DPoP" in caught.value.reason


# -- token validity --------------------------------------------------------------------------


def test_an_expired_token_is_refused(software: Software) -> None:
    token = software.token()
    software.call(token)  # accepted once: its checked signature is now kept
    software.env.clock.advance(301)
    with pytest.raises(InvalidAccessToken) as caught:
        software.call(token)
    assert caught.value.reason == "expired"


def test_a_forged_token_is_refused(software: Software) -> None:
    token = software.token()
    header, _, signature = token.split(".")
    claims = claims_of(token)
    claims["org"] = software.env.other_org_id
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    forged = f"{header}.{forged_payload.decode()}.{signature}"
    with pytest.raises(InvalidAccessToken) as caught:
        software.call(forged)
    assert caught.value.reason == "signature does not verify"


def test_a_token_signed_by_another_key_is_refused(software: Software) -> None:
    token = software.token()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    outsider = ECKey.generate_key("P-256", private=True)
    minted = jwt.encode(header, claims_of(token), outsider, algorithms=["ES256"],
                        default_type=None)
    with pytest.raises(InvalidAccessToken):
        software.call(minted)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000])
def test_malformed_tokens_are_refused(software: Software, token: str) -> None:
    with pytest.raises(InvalidAccessToken):
        software.call(token, proof=software.dpop.proof("POST", CHECK_URL))


def test_a_revoked_client_loses_its_tokens_at_once(software: Software) -> None:
    env = software.env
    token = software.token()
    software.call(token)  # accepted once: its checked signature is now kept
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    env.auth.api_clients.revoke(actor=env.auth.accounts.get(admin_id).actor,
                                client_id=software.registered.info.client_id)
    with pytest.raises(InvalidAccessToken) as caught:
        software.call(token)
    assert caught.value.reason == "client revoked"
    with pytest.raises(ClientAuthFailed):
        software.token()


def test_another_worker_stops_a_revoked_clients_tokens_within_the_bound(
        software: Software) -> None:
    env = software.env
    # A second worker process: its own services (and caches) over the same database.
    worker = AuthServices.build(env.runtime, events=MemoryEventSink(), settings=TEST_AUTH)
    token = software.token()

    def call_worker() -> int:
        return worker.api_auth.authenticate(
            authorization=f"DPoP {token}",
            dpop_proof=software.dpop.proof("POST", CHECK_URL, access_token=token),
            method="POST", url=CHECK_URL).organisation_id

    assert call_worker() == env.org_id  # the worker now holds the client as active
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    env.auth.api_clients.revoke(actor=env.auth.accounts.get(admin_id).actor,
                                client_id=software.registered.info.client_id)
    env.clock.advance(ACTIVE_SECONDS)
    with pytest.raises(InvalidAccessToken) as caught:
        call_worker()
    assert caught.value.reason == "client revoked"


def test_a_revocation_made_during_a_long_quiet_spell_still_reaches_another_worker(
        software: Software) -> None:
    env = software.env
    worker = AuthServices.build(env.runtime, events=MemoryEventSink(), settings=TEST_AUTH)

    def call_worker(token: str) -> int:
        return worker.api_auth.authenticate(
            authorization=f"DPoP {token}",
            dpop_proof=software.dpop.proof("POST", CHECK_URL, access_token=token),
            method="POST", url=CHECK_URL).organisation_id

    assert call_worker(software.token()) == env.org_id
    env.clock.advance(ACTIVE_SECONDS)
    assert call_worker(software.token()) == env.org_id  # polled: nothing revoked
    # Nobody calls the worker, so it asks nothing, while the client is revoked and
    # minutes pass; a token the service signed for it before then still verifies.
    env.clock.advance(100)
    tokens = AccessTokens(keys=SigningKeys(engine=env.runtime.engine, vault=env.runtime.vault,
                                           clock=env.clock), clock=env.clock, settings=TEST_AUTH)
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    env.auth.api_clients.revoke(actor=env.auth.accounts.get(admin_id).actor,
                                client_id=software.registered.info.client_id)
    env.clock.advance(200)
    late = tokens.issue(client_id=software.registered.info.client_id, organisation_id=env.org_id,
                        jkt=software.dpop.key.thumbprint()).access_token
    with pytest.raises(InvalidAccessToken) as caught:
        call_worker(late)
    assert caught.value.reason == "client revoked"


# -- proof validity ----------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    ({"method": "GET"}, "htm does not match the request method"),
    ({"url": "https://api.rempart.example/v1/claims"}, "htu does not match the request URL"),
    ({"url": "https://evil.example/v1/checks"}, "htu does not match the request URL"),
    ({"iat_offset": -120}, "iat outside the accepted window"),
    ({"iat_offset": 120}, "iat outside the accepted window"),
    ({"header": {"typ": "JWT"}}, "typ is not dpop+jwt"),
    ({"claims": {"ath": "AAAA"}}, "ath does not match the access token"),
    ({"claims": {"jti": 42}}, "jti missing or malformed"),
    ({"no_ath": True}, "ath does not match the access token"),
])
def test_proofs_that_do_not_match_the_request_are_refused(
        software: Software, change: dict[str, object], reason: str) -> None:
    token = software.token()
    proof = software.dpop.proof(
        str(change.get("method", "POST")), str(change.get("url", CHECK_URL)),
        access_token=None if change.get("no_ath") else token,
        iat_offset=float(change.get("iat_offset", 0)),
        header=change.get("header"), claims=change.get("claims"))
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=proof)
    assert caught.value.reason == reason


def test_a_proof_carrying_a_private_key_is_refused(software: Software) -> None:
    token = software.token()
    software.call(token)  # the public key is now known
    proof = software.dpop.proof("POST", CHECK_URL, access_token=token,
                                header={"jwk": software.dpop.key.as_dict(private=True)})
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=proof)
    assert caught.value.reason == "jwk must be a public key"


def test_a_symmetric_or_unsigned_proof_is_refused(software: Software) -> None:
    token = software.token()
    secret = OctKey.generate_key(256)
    hs = jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_dict()},
                    {"jti": "x", "htm": "POST", "htu": CHECK_URL}, secret,
                    algorithms=["HS256"], default_type=None)
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=hs)
    assert caught.value.reason == "alg not accepted"
    unsigned = hs.rsplit(".", 1)[0].replace(hs.split(".")[0], base64.urlsafe_b64encode(
        b'{"typ":"dpop+jwt","alg":"none"}').rstrip(b"=").decode()) + "."
    with pytest.raises(InvalidDpopProof):
        software.call(token, proof=unsigned)


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(software: Software) -> None:
    token = software.token()
    software.call(token)  # the client's public key is now known: still checked each time
    other = DpopClient(software.env.clock)
    proof = other.proof("POST", CHECK_URL, access_token=token,
                        header={"jwk": software.dpop.key.as_dict(private=False)})
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(token, proof=proof)
    assert caught.value.reason == "signature does not verify"


@pytest.mark.parametrize("proof", [None, "", "not-a-jws", "a.b.c", "x" * 9000])
def test_missing_or_malformed_proofs_are_refused(software: Software, proof: str | None) -> None:
    token = software.token()
    with pytest.raises(InvalidDpopProof):
        software.env.auth.api_auth.authenticate(authorization=f"DPoP {token}",
                                                dpop_proof=proof, method="POST", url=CHECK_URL)


def test_htu_comparison_ignores_case_default_port_query_and_fragment() -> None:
    assert normalise_htu("HTTPS://API.Example:443/v1/checks?x=1#f") == (
        "https://api.example/v1/checks")
    assert normalise_htu("http://localhost:8000") == "http://localhost:8000/"
    assert normalise_htu("https://a.example/A") != normalise_htu("https://a.example/a")


def test_an_htu_equal_to_a_request_url_that_does_not_normalise_is_refused() -> None:
    # The request URL is normalised once and an equal htu not again: equality alone
    # must not accept what normalising refuses (here a port out of range).
    assert htu_matches(CHECK_URL, CHECK_URL)
    assert htu_matches("HTTPS://API.rempart.example:443/v1/checks", CHECK_URL)
    assert not htu_matches("https://api.rempart.example/v1/checks/", CHECK_URL)
    assert not htu_matches(None, CHECK_URL)
    bad = "https://api.rempart.example:99999/v1/checks"
    assert not htu_matches(bad, bad)
    assert not htu_matches(CHECK_URL, bad)


def test_a_proof_bound_to_another_of_the_clients_tokens_is_refused(software: Software) -> None:
    # Each token's hash is kept with its verified claims: the proof must name this one.
    first, second = software.token(), software.token()
    software.call(first)
    software.call(second)
    proof = software.dpop.proof("POST", CHECK_URL, access_token=first)
    with pytest.raises(InvalidDpopProof) as caught:
        software.call(second, proof=proof)
    assert caught.value.reason == "ath does not match the access token"
    software.call(first, proof=software.dpop.proof("POST", CHECK_URL, access_token=first))


# -- the token endpoint and client management ------------------------------------------------


def test_client_authentication_failures_look_alike(software: Software) -> None:
    auth = software.env.auth.api_auth
    answers = []
    for client_id, secret in [(software.registered.info.client_id, "wrong-secret"),
                              ("rc_" + "0" * 32, software.registered.client_secret),
                              ("x" * 500, "whatever")]:
        with pytest.raises(ClientAuthFailed) as caught:
            auth.token(grant_type="client_credentials", client_id=client_id,
                       client_secret=secret, dpop_proof=software.dpop.proof("POST", TOKEN_URL),
                       method="POST", url=TOKEN_URL)
        answers.append(str(caught.value))
    assert len(set(answers)) == 1
    refused = software.env.events.of_kind(EventKind.API_TOKEN_REFUSED)
    assert len(refused) == 3
    assert "wrong-secret" not in repr(refused)


def test_only_the_client_credentials_grant_is_served(software: Software) -> None:
    with pytest.raises(InvalidInput):
        software.env.auth.api_auth.token(
            grant_type="password", client_id=software.registered.info.client_id,
            client_secret=software.registered.client_secret,
            dpop_proof=software.dpop.proof("POST", TOKEN_URL), method="POST", url=TOKEN_URL)


def test_a_token_request_without_a_proof_is_refused(software: Software) -> None:
    with pytest.raises(InvalidDpopProof):
        software.env.auth.api_auth.token(
            grant_type="client_credentials", client_id=software.registered.info.client_id,
            client_secret=software.registered.client_secret, dpop_proof=None,
            method="POST", url=TOKEN_URL)


def test_clients_are_managed_per_organisation(env: AuthEnv) -> None:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    admin = env.auth.accounts.get(admin_id).actor
    user = env.auth.accounts.get(env.account()[0]).actor
    with pytest.raises(NotPermitted):
        env.auth.api_clients.register(actor=admin, organisation_id=env.other_org_id, name="x")
    with pytest.raises(NotPermitted):
        env.auth.api_clients.register(actor=user, organisation_id=env.org_id, name="x")
    with pytest.raises(InvalidInput):
        env.auth.api_clients.register(actor=admin, organisation_id=env.org_id, name=" ")
    mine = env.auth.api_clients.register(actor=admin, organisation_id=env.org_id, name="LGO")
    listed = env.auth.api_clients.for_organisation(actor=admin, organisation_id=env.org_id)
    assert mine.info in listed
    other_admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN, org=env.other_org_id)
    with pytest.raises(NotPermitted):
        env.auth.api_clients.revoke(actor=env.auth.accounts.get(other_admin_id).actor,
                                    client_id=mine.info.client_id)
    operator_id, _ = env.account(role=Role.OPERATOR_ADMIN)
    env.auth.api_clients.revoke(actor=env.auth.accounts.get(operator_id).actor,
                                client_id=mine.info.client_id)
    assert env.auth.api_clients.active(mine.info.client_id) is None


def test_the_replay_cache_refuses_a_second_use_and_purges_stale_entries(env: AuthEnv) -> None:
    cache = DbReplayCache(engine=env.runtime.engine, clock=env.clock)
    soon = env.clock.now() + dt.timedelta(seconds=60)
    first = [secrets.token_bytes(32) for _ in range(PURGE_EVERY)]
    assert all(cache.first_use(key, expires_at=soon) for key in first)
    assert not cache.first_use(first[0], expires_at=soon)  # seen: refused
    env.clock.advance(61)
    later = env.clock.now() + dt.timedelta(seconds=60)
    assert all(cache.first_use(secrets.token_bytes(32), expires_at=later)
               for _ in range(PURGE_EVERY))  # the purge ran among these
    with env.runtime.engine.connect() as conn:
        stale = conn.scalar(select(func.count()).select_from(DpopProofReplay).where(
            DpopProofReplay.key_hash.in_(first)))
    assert stale == 0


@pytest.mark.postgres
def test_the_replay_cache_survives_a_dropped_connection(postgres_url: str,
                                                        tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path, database_url=postgres_url,
                             key_file=tmp_path / "keyring.json")
    with Runtime.open(settings, create_keys=True) as runtime:
        cache = DbReplayCache(engine=runtime.engine, clock=runtime.clock)
        soon = runtime.clock.now() + dt.timedelta(seconds=60)
        seen = secrets.token_bytes(32)
        assert cache.first_use(seen, expires_at=soon)  # the thread's connection is held
        with runtime.engine.connect() as conn:  # the server ends every other session
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        assert cache.first_use(secrets.token_bytes(32), expires_at=soon)
        assert not cache.first_use(seen, expires_at=soon)  # still remembered


def test_client_ids_carry_no_run_of_digits_the_audit_log_would_drop() -> None:
    # The audit log drops a detail value with 13 digits in a row (a NIR could hide in
    # it); about 2 % of random 32-hex-digit ids have one, and operators' actions on
    # those clients were recorded without saying which client.
    ids = {new_client_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(re.fullmatch(r"rc_[0-9a-f]{32}", i) for i in ids)
    assert not [i for i in ids if LONG_DIGITS.search(i)]
    assert safe_detail({"target_client": min(ids)}) == {"target_client": min(ids)}
