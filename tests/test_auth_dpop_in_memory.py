"""The DPoP check from memory alone (`in_memory=True`), as the event loop asks it: it
answers only from what the process holds, says NotInMemory before spending the proof
otherwise, and a revocation made by another worker still stops the client within
ACTIVE_SECONDS, the poll made ahead of time in the background."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from auth_support import BACKENDS, TEST_AUTH, AuthEnv, DpopClient, fresh, shared_env
from rempart.auth.api_auth import ApiAuthService
from rempart.auth.api_clients import (
    ACTIVE_SECONDS,
    POLL_AHEAD_SECONDS,
    ApiClientService,
    RegisteredClient,
)
from rempart.auth.errors import InvalidAccessToken, NotInMemory
from rempart.auth.events import EventKind, MemoryEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.signing_keys import CACHE_SECONDS

TOKEN_URL = "https://api.rempart.example/oauth/token"
CHECK_URL = "https://api.rempart.example/v1/checks"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@dataclass
class Worker:
    """A worker process: its own services (and memory) over the shared database."""

    api_auth: ApiAuthService
    clients: ApiClientService
    events: MemoryEventSink
    software: DpopClient
    token: str

    def call(self, *, in_memory: bool, proof: str | None = None) -> int:
        return self.api_auth.authenticate(
            authorization=f"DPoP {self.token}",
            dpop_proof=proof or self.software.proof("POST", CHECK_URL, access_token=self.token),
            method="POST", url=CHECK_URL, address="198.51.100.9",
            in_memory=in_memory).organisation_id


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


@pytest.fixture
def registered(env: AuthEnv) -> RegisteredClient:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    return env.auth.api_clients.register(actor=env.auth.accounts.get(admin_id).actor,
                                         organisation_id=env.org_id, name="Logiciel")


@pytest.fixture
def worker(env: AuthEnv, registered: RegisteredClient) -> Worker:
    software = DpopClient(env.clock)
    token = env.auth.api_auth.token(
        grant_type="client_credentials", client_id=registered.info.client_id,
        client_secret=registered.client_secret, dpop_proof=software.proof("POST", TOKEN_URL),
        method="POST", url=TOKEN_URL).access_token
    events = MemoryEventSink()
    services = AuthServices.build(env.runtime, events=events, settings=TEST_AUTH)
    return Worker(api_auth=services.api_auth, clients=services.api_clients, events=events,
                  software=software, token=token)


def revoke(env: AuthEnv, registered: RegisteredClient) -> None:
    """Revoked through the first process's services: news to the worker."""
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    env.auth.api_clients.revoke(actor=env.auth.accounts.get(admin_id).actor,
                                client_id=registered.info.client_id)


def test_a_client_new_to_the_process_is_not_in_memory_and_its_proof_stays_unspent(
        env: AuthEnv, worker: Worker) -> None:
    proof = worker.software.proof("POST", CHECK_URL, access_token=worker.token)
    with pytest.raises(NotInMemory):
        worker.call(in_memory=True, proof=proof)
    assert worker.call(in_memory=False, proof=proof) == env.org_id  # not recorded before
    assert worker.call(in_memory=True) == env.org_id  # now known: from memory
    env.clock.advance(CACHE_SECONDS)  # the signing key to be read again
    with pytest.raises(NotInMemory):
        worker.call(in_memory=True)
    assert worker.events.events == []


def test_a_revocation_reaches_a_worker_answering_from_memory_through_the_poll_ahead(
        env: AuthEnv, registered: RegisteredClient, worker: Worker) -> None:
    assert worker.call(in_memory=False) == env.org_id  # the worker holds the client
    assert not worker.api_auth.revocations_poll_ahead_due()
    revoke(env, registered)
    env.clock.advance(POLL_AHEAD_SECONDS)
    assert worker.api_auth.revocations_poll_ahead_due()
    worker.api_auth.poll_revocations_ahead()  # as the background thread would
    assert not worker.api_auth.revocations_poll_ahead_due()
    with pytest.raises(InvalidAccessToken) as caught:
        worker.call(in_memory=True)
    assert caught.value.reason == "client revoked"
    assert worker.events.events == []  # recorded by the caller, off the loop:
    with pytest.raises(InvalidAccessToken):
        worker.api_auth.refused(caught.value, "198.51.100.9")
    assert [e.kind for e in worker.events.events] == [EventKind.API_REQUEST_REFUSED]
    assert worker.events.events[0].reason == "client revoked"


def test_without_the_poll_ahead_an_overdue_poll_is_never_answered_from_memory(
        env: AuthEnv, registered: RegisteredClient, worker: Worker) -> None:
    assert worker.call(in_memory=False) == env.org_id
    assert worker.call(in_memory=True) == env.org_id
    revoke(env, registered)
    env.clock.advance(ACTIVE_SECONDS)  # nobody polled ahead: the poll is due
    with pytest.raises(NotInMemory):
        worker.call(in_memory=True)
    with pytest.raises(InvalidAccessToken) as caught:
        worker.call(in_memory=False)  # polls, and learns
    assert caught.value.reason == "client revoked"


def test_the_poll_ahead_asks_nothing_before_its_time(worker: Worker, env: AuthEnv) -> None:
    worker.call(in_memory=False)  # the first poll (it has nothing to ask)
    polls = worker.clients.polls
    env.clock.advance(POLL_AHEAD_SECONDS / 2)
    assert not worker.api_auth.revocations_poll_ahead_due()
    worker.api_auth.poll_revocations_ahead()
    assert worker.clients.polls == polls
    env.clock.advance(POLL_AHEAD_SECONDS / 2)
    worker.api_auth.poll_revocations_ahead()
    assert worker.clients.polls == polls + 1
    assert worker.call(in_memory=True) == env.org_id
