"""DPoP replay stores: in process (one worker) and in Redis (several), chosen from the
settings; each proof accepted once, a restart opening no replay, Redis failing closed."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI

from auth_support import TEST_AUTH, DpopClient
from guard_fixtures import REDIS_URL, redis_prefix
from rempart.auth.config import AuthSettings
from rempart.auth.dpop import DpopVerifier
from rempart.auth.errors import InvalidDpopProof, ReplayCheckUnavailable
from rempart.auth.replay import DbReplayCache
from rempart.auth.replay_stores import (
    SKEW_MARGIN_MS,
    MemoryReplayCache,
    RedisReplayCache,
    build_proof_replay_cache,
)
from rempart.clock import ManualClock
from rempart.core.errors import ConfigurationError
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web.auth_errors import install_auth_error_handlers, status_and_code

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
URL = "https://api.rempart.example/v1/checks"
WINDOW = TEST_AUTH.dpop_iat_window_seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as name:
        yield name


def key() -> bytes:
    return secrets.token_bytes(32)


def redis_settings(prefix: str, url: str = REDIS_URL) -> AuthSettings:
    return dataclasses.replace(TEST_AUTH, replay_storage=url, replay_prefix=prefix)


# -- in process -----------------------------------------------------------------------------


def test_memory_store_accepts_a_key_once(clock: ManualClock) -> None:
    store = MemoryReplayCache(clock=clock)
    seen, end = key(), clock.now() + dt.timedelta(seconds=WINDOW)
    assert store.first_use(seen, issued_at=clock.now(), expires_at=end)
    assert not store.first_use(seen, issued_at=clock.now(), expires_at=end)
    assert store.first_use(key(), issued_at=clock.now(), expires_at=end)


def test_memory_store_keeps_an_entry_while_its_proof_is_fresh_then_forgets_it(
        clock: ManualClock) -> None:
    store = MemoryReplayCache(clock=clock)
    seen, end = key(), clock.now() + dt.timedelta(seconds=WINDOW)
    assert store.first_use(seen, issued_at=clock.now(), expires_at=end)
    clock.advance(WINDOW)  # the last instant the verifier still accepts the proof
    assert not store.first_use(seen, issued_at=START, expires_at=end)
    clock.advance(1)
    later = clock.now() + dt.timedelta(seconds=WINDOW)
    assert store.first_use(key(), issued_at=clock.now(), expires_at=later)
    assert len(store) == 1  # the stale entry left as the next one came: the store stays small


def test_memory_store_refuses_proofs_made_before_it_existed(clock: ManualClock) -> None:
    clock.advance(10.5)  # the new process starts mid-second
    store = MemoryReplayCache(clock=clock)
    end = clock.now() + dt.timedelta(seconds=WINDOW)
    for before in (START, clock.now() - dt.timedelta(seconds=0.5)):
        assert not store.first_use(key(), issued_at=before, expires_at=end)
    assert store.first_use(key(), issued_at=clock.now(), expires_at=end)


def test_a_proof_accepted_before_a_restart_is_refused_after_it(clock: ManualClock) -> None:
    client = DpopClient(clock)
    before = DpopVerifier(settings=TEST_AUTH, clock=clock, replay=MemoryReplayCache(clock=clock))
    proof = client.proof("POST", URL)
    before.verify(proof, method="POST", url=URL)
    clock.advance(1)  # the process restarts: its successor's store begins empty
    after = DpopVerifier(settings=TEST_AUTH, clock=clock, replay=MemoryReplayCache(clock=clock))
    with pytest.raises(InvalidDpopProof) as caught:
        after.verify(proof, method="POST", url=URL)
    assert caught.value.reason == "proof replayed (jti already used)"
    after.verify(client.proof("POST", URL), method="POST", url=URL)  # a fresh one passes


def test_a_forgotten_proof_is_still_refused_for_its_age(clock: ManualClock) -> None:
    store = MemoryReplayCache(clock=clock)
    verifier = DpopVerifier(settings=TEST_AUTH, clock=clock, replay=store)
    client = DpopClient(clock)
    proof = client.proof("POST", URL)
    verifier.verify(proof, method="POST", url=URL)
    clock.advance(WINDOW + 1)
    verifier.verify(client.proof("POST", URL), method="POST", url=URL)
    assert len(store) == 1  # the first proof's entry is gone...
    with pytest.raises(InvalidDpopProof) as caught:
        verifier.verify(proof, method="POST", url=URL)
    assert caught.value.reason == "iat outside the accepted window"  # ...and it opens nothing


# -- in Redis -------------------------------------------------------------------------------


def test_redis_store_accepts_a_key_once_and_expires_it_after_the_proof(
        clock: ManualClock, prefix: str) -> None:
    store = RedisReplayCache.connect(REDIS_URL, prefix=prefix, clock=clock)
    seen, end = key(), clock.now() + dt.timedelta(seconds=WINDOW)
    assert store.first_use(seen, issued_at=clock.now(), expires_at=end)
    assert not store.first_use(seen, issued_at=clock.now(), expires_at=end)
    ttl = redis.Redis.from_url(REDIS_URL).pttl(f"{prefix}:".encode() + seen)
    assert WINDOW * 1000 < ttl <= WINDOW * 1000 + SKEW_MARGIN_MS


def test_two_workers_sharing_redis_refuse_each_others_proofs(
        clock: ManualClock, prefix: str, runtime: Runtime) -> None:
    def worker() -> DpopVerifier:
        # What each worker process builds: its own connection, through the settings.
        replay = build_proof_replay_cache(redis_settings(prefix), workers=2, sqlite=False,
                                          engine=runtime.engine, clock=clock)
        assert isinstance(replay, RedisReplayCache)
        return DpopVerifier(settings=TEST_AUTH, clock=clock, replay=replay)

    first, second = worker(), worker()
    client = DpopClient(clock)
    proof = client.proof("POST", URL)
    first.verify(proof, method="POST", url=URL)
    with pytest.raises(InvalidDpopProof) as caught:
        second.verify(proof, method="POST", url=URL)
    assert caught.value.reason == "proof replayed (jti already used)"
    second.verify(client.proof("POST", URL), method="POST", url=URL)


def test_an_unreachable_redis_refuses_the_proof(clock: ManualClock) -> None:
    store = RedisReplayCache.connect("redis://127.0.0.1:1/0", prefix="unreachable", clock=clock)
    verifier = DpopVerifier(settings=TEST_AUTH, clock=clock, replay=store)
    with pytest.raises(ReplayCheckUnavailable) as caught:
        verifier.verify(DpopClient(clock).proof("POST", URL), method="POST", url=URL)
    assert status_and_code(caught.value) == (503, "auth_unavailable")


# -- the choice -----------------------------------------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings.load(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'r.db'}",
                             key_file=tmp_path / "keyring.json")
    with Runtime.open(settings, create_keys=True) as opened:
        yield opened


def test_the_store_follows_the_settings(runtime: Runtime, clock: ManualClock) -> None:
    def chosen(settings: AuthSettings, *, workers: int = 1, sqlite: bool = True) -> object:
        return build_proof_replay_cache(settings, workers=workers, sqlite=sqlite,
                                        engine=runtime.engine, clock=clock)

    assert isinstance(chosen(TEST_AUTH), MemoryReplayCache)
    assert isinstance(chosen(TEST_AUTH, workers=2), DbReplayCache)
    assert isinstance(chosen(TEST_AUTH, sqlite=False), DbReplayCache)
    redis_auth = redis_settings("any")
    assert isinstance(chosen(redis_auth, workers=4, sqlite=False), RedisReplayCache)
    with pytest.raises(ConfigurationError):
        chosen(dataclasses.replace(TEST_AUTH, replay_storage="memcached://x"))


def test_the_one_redis_switch_moves_the_replay_store() -> None:
    env = {"REMPART_REDIS_URL": "redis://redis:6379/0", "REMPART_REDIS_PREFIX": "inst"}
    settings = AuthSettings.from_env(env)
    assert settings.replay_storage == "redis://redis:6379/0"
    assert settings.replay_prefix == "inst-replay"
    assert AuthSettings.from_env({}).replay_storage == "memory://"


def test_an_unreachable_replay_store_is_a_503_to_retry() -> None:
    app = FastAPI()
    install_auth_error_handlers(app)

    @app.post("/api/v1/checks")
    @app.post("/fhir/r4/CoverageEligibilityRequest/$submit")
    def check() -> None:
        raise ReplayCheckUnavailable

    async def call(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://rempart.test") as client:
            return await client.post(path)

    answer = asyncio.run(call("/api/v1/checks"))
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
    assert answer.json()["error"]["code"] == "auth_unavailable"
    fhir = asyncio.run(call("/fhir/r4/CoverageEligibilityRequest/$submit"))
    assert (fhir.status_code, fhir.headers["retry-after"]) == (503, "5")
    assert fhir.json()["issue"][0]["code"] == "transient"
