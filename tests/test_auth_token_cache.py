"""A token's verified signature is kept for the token's life, and that loosens nothing:
expiry and the signing key's retirement still end it when they did."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from auth_support import BACKENDS, AuthEnv, DpopClient, fresh, shared_env
from rempart.auth.access_tokens import AccessTokens
from rempart.auth.errors import InvalidAccessToken
from rempart.auth.roles import Role
from rempart.auth.signing_keys import CACHE_SECONDS, SigningKeys

TOKEN_URL = "https://api.rempart.example/oauth/token"
CHECK_URL = "https://api.rempart.example/v1/checks"
TOKEN_LIFE = 300  # the default access_token_seconds


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


class Practice:
    """A registered client with its key, calling the API on the test's clock."""

    def __init__(self, env: AuthEnv) -> None:
        admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
        self.env = env
        self.registered = env.auth.api_clients.register(
            actor=env.auth.accounts.get(admin_id).actor, organisation_id=env.org_id,
            name="Logiciel d'officine")
        self.dpop = DpopClient(env.clock)

    def token(self) -> str:
        return self.env.auth.api_auth.token(
            grant_type="client_credentials", client_id=self.registered.info.client_id,
            client_secret=self.registered.client_secret,
            dpop_proof=self.dpop.proof("POST", TOKEN_URL), method="POST",
            url=TOKEN_URL).access_token

    def call(self, token: str) -> int:
        return self.env.auth.api_auth.authenticate(
            authorization=f"DPoP {token}",
            dpop_proof=self.dpop.proof("POST", CHECK_URL, access_token=token),
            method="POST", url=CHECK_URL, address="198.51.100.9").organisation_id


@pytest.fixture
def signatures_checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each token whose signature is verified (not found already verified)."""
    checked: list[str] = []
    verified_claims = AccessTokens._verified_claims

    def counting(self: AccessTokens, token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return verified_claims(self, token, *args, **kwargs)

    monkeypatch.setattr(AccessTokens, "_verified_claims", counting)
    return checked


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_a_practice_calling_every_few_minutes_has_its_token_verified_once(
        env: AuthEnv, signatures_checked: list[str]) -> None:
    practice = Practice(env)
    token = practice.token()
    for _ in range(4):  # a check every 70 s, each later than the signing key cache's 60 s
        assert practice.call(token) == env.org_id
        env.clock.advance(70)
    assert signatures_checked == [token]


def test_a_token_verified_long_ago_still_expires_on_time(
        env: AuthEnv, signatures_checked: list[str]) -> None:
    practice = Practice(env)
    token = practice.token()
    practice.call(token)
    env.clock.advance(TOKEN_LIFE - 1)
    practice.call(token)
    env.clock.advance(1)
    with pytest.raises(InvalidAccessToken) as caught:
        practice.call(token)
    assert caught.value.reason == "expired"
    assert signatures_checked == [token]


def test_a_key_retired_elsewhere_stops_tokens_verified_long_before_within_the_bound(
        env: AuthEnv) -> None:
    practice = Practice(env)
    token = practice.token()
    practice.call(token)
    env.clock.advance(100)  # the verified signature is older than CACHE_SECONDS
    practice.call(token)
    # Another worker process retires the token's signing key.
    SigningKeys(engine=env.runtime.engine, vault=env.runtime.vault,
                clock=env.clock).retire(kid_of(token))
    env.clock.advance(CACHE_SECONDS)
    with pytest.raises(InvalidAccessToken) as caught:
        practice.call(token)
    assert caught.value.reason == "signed by an unknown key"
