"""Two application workers, one shared state (issue 8, item 1): separate uvicorn processes
on one PostgreSQL database and one Redis, chosen by REMPART_REDIS_URL. Every request names
the worker it goes to, so whatever one worker learnt must be what the other one acts on:
a session made on one serves on the other, a login throttled on one is throttled on the
other, the guard's count and containment of a session hold on both, an operator's
suspension through one is honoured by the other at once, and checks answered by both
at the same time leave one audit chain that `rempart audit verify` accepts."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from auth_support import PASSWORD
from cluster_support import Cluster, Visitor, two_workers
from rempart.auth.roles import Role
from rempart.settings import Settings
from server_support import demo_headers

A, B = 0, 1
WRONG = "not the password at all"
_REFERENCE = re.compile(r'<code id="check-reference">([^<]+)</code>')
# The guard words a session's count against its ceiling, or, for an account that has
# learnt nothing yet, against its peer group's usual rate.
_SESSION_COUNT = re.compile(
    r"(\d+) checks (?:from this session in 1 min|in one minute from this session)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # One instance and its two workers for the module: starting them is most of the cost.
    with two_workers(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def visitors(cluster: Cluster) -> Iterator[list[Visitor]]:
    made: list[Visitor] = []
    yield made
    for visitor in made:
        visitor.close()


def visitor(cluster: Cluster, made: list[Visitor]) -> Visitor:
    """A browser from a random private address (its own login-throttle scope)."""
    address = str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(2**24)))
    made.append(Visitor(cluster, address))
    return made[-1]


def answered_checks(cluster: Cluster, account_id: int) -> int:
    with cluster.runtime.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM audit_entries WHERE event = 'check.answered' "
            "AND account_id = :account"), {"account": account_id}).scalar_one())


def test_one_switch_moves_every_shared_state_to_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_REDIS_URL", "redis://redis.internal:6379/0")
    monkeypatch.setenv("REMPART_REDIS_PREFIX", "prod")
    switched = Settings.load(database_url="postgresql://db/rempart")
    assert switched.auth.throttle_storage == "redis://redis.internal:6379/0"
    assert switched.guard.storage_uri == "redis://redis.internal:6379/0"
    assert (switched.auth.throttle_prefix, switched.guard.key_prefix) == \
        ("prod-throttle", "prod-guard")
    assert (switched.auth.replay_storage, switched.auth.replay_prefix) == \
        ("redis://redis.internal:6379/0", "prod-replay")
    # A component's own variable still wins over the switch.
    monkeypatch.setenv("REMPART_GUARD_STORAGE", "redis://guard.internal:6379/1")
    assert Settings.load().guard.storage_uri == "redis://guard.internal:6379/1"
    monkeypatch.delenv("REMPART_REDIS_URL")
    monkeypatch.delenv("REMPART_GUARD_STORAGE")
    monkeypatch.delenv("REMPART_REDIS_PREFIX")
    embedded = Settings.load()
    assert (embedded.auth.throttle_storage, embedded.guard.storage_uri,
            embedded.auth.replay_storage) == ("memory://", "memory://", "memory://")
    assert (embedded.auth.throttle_prefix, embedded.guard.key_prefix) == \
        ("rempart-throttle", "rempart-guard")


@pytest.mark.postgres
def test_sessions_and_ceremonies_pass_from_one_worker_to_the_other(
        cluster: Cluster, visitors: list[Visitor]) -> None:
    account_id, email = cluster.account()
    browser = visitor(cluster, visitors)
    browser.enrol_totp(email, begin=A, finish=B)  # the secret shown by A, confirmed on B
    answer = browser.portal_check(A, cluster.population.alice)  # the session B renewed
    assert answer.status_code == 200
    assert _REFERENCE.search(answer.text)
    assert answered_checks(cluster, account_id) == 1
    page = browser.get(B, "/portal/check")
    assert browser.form(B, "/portal/logout", page, {}).status_code == 303
    # Signed out through B: A no longer knows the session either.
    assert browser.get(A, "/portal/check").headers["location"].startswith("/portal/login")
    # A passkey registered through B from a challenge of A's, then a login begun on A
    # and finished on B; the session it opens serves on A.
    _, other_email = cluster.account()
    owner = visitor(cluster, visitors)
    passkey = owner.enrol_passkey(other_email, begin=A, finish=B)
    later = visitor(cluster, visitors)
    done = later.passkey_login(passkey, begin=A, finish=B)
    assert done.status_code == 200, done.text
    assert later.get(A, done.json()["next"]).status_code == 200


@pytest.mark.postgres
def test_a_login_throttled_on_one_worker_is_throttled_on_the_other(
        cluster: Cluster, visitors: list[Visitor]) -> None:
    _, email = cluster.account()
    free = cluster.runtime.settings.auth.throttle_account_free_failures
    # Wrong passwords through A and B in turn, each from a new address: only the
    # account's own count can slow them down, and only if both workers keep one count.
    statuses = [visitor(cluster, visitors).password_login(n % 2, email, WRONG).status_code
                for n in range(free + 1)]
    assert statuses == [401] * free + [429]
    for worker in (A, B):  # the right password, from yet another address, waits too
        refused = visitor(cluster, visitors).password_login(worker, email, PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


def demo_check(cluster: Cluster, worker: int, session: str, address: str) -> httpx.Response:
    population = cluster.population
    return httpx.post(f"{cluster.urls[worker]}/api/v1/checks", timeout=30,
                      json=population.alice.payload(care_date=dt.date.today()),
                      headers=demo_headers(population.organisation_ids[0], session, address))


def refusal(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def guard_reasons(cluster: Cluster, session: str) -> list[tuple[str, list[str]]]:
    """The guard's stored alerts for a demo session: (action, reasons), oldest first."""
    with cluster.runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT action, reasons FROM alerts WHERE session_id = :s "
                                 "ORDER BY id"), {"s": f"demo:{session}"}).all()
    return [(row[0], json.loads(row[1])) for row in rows]


@pytest.mark.postgres
def test_the_guard_counts_and_contains_one_session_across_both_workers(
        cluster: Cluster) -> None:
    session, address = f"hammer-{uuid.uuid4().hex[:8]}", "192.0.2.77"
    # One session's checks through A and B in turn, until the guard says no.
    codes: list[tuple[int, str]] = []
    while not codes or codes[-1][0] == 201:
        answer = demo_check(cluster, len(codes) % 2, session, address)
        codes.append(refusal(answer) if answer.status_code != 201 else (201, "covered"))
        assert len(codes) < 60, "the guard never stopped the session"
    assert codes[-1] == (401, "step_up_required")
    [(action, reasons)] = guard_reasons(cluster, session)
    found = _SESSION_COUNT.search(" ".join(reasons))
    assert action == "step_up"
    assert found, reasons
    # The session's per-minute count took in every check of both workers, more than
    # either served on its own.
    assert int(found[1]) == len(codes) > (len(codes) + 1) // 2
    # Going on through both regardless: each refuses (the step-up is pending on both,
    # and the evidence only grows) until the guard ends the session, for both.
    while codes[-1] == (401, "step_up_required"):
        codes.append(refusal(demo_check(cluster, len(codes) % 2, session, address)))
        assert len(codes) < 200, "the guard never ended the session"
    assert codes[-1] == (401, "session_revoked")
    action, reasons = guard_reasons(cluster, session)[-1]
    found = _SESSION_COUNT.search(" ".join(reasons))
    assert action == "suspend_session"
    assert found, reasons
    assert int(found[1]) == len(codes)  # again every check of both workers
    for worker in (A, B):
        assert refusal(demo_check(cluster, worker, session, address)) == \
            (401, "session_revoked")


@pytest.mark.postgres
def test_an_operator_suspension_on_one_worker_is_honoured_by_the_other(
        cluster: Cluster, visitors: list[Visitor]) -> None:
    provider_id, provider_email = cluster.account()
    provider = visitor(cluster, visitors)
    provider.enrol_totp(provider_email, begin=A, finish=A)
    assert provider.portal_check(A, cluster.population.alice).status_code == 200
    _, operator_email = cluster.account(role=Role.OPERATOR_SECURITY_ANALYST)
    operator = visitor(cluster, visitors)
    operator.enrol_passkey(operator_email, begin=B, finish=B)
    account = operator.get(B, f"/portal/console/accounts/{provider_id}")
    assert account.status_code == 200
    done = operator.form(B, f"/portal/console/accounts/{provider_id}/suspend", account, {})
    assert done.status_code == 303
    # Suspended through B: A refuses the provider's session and discloses nothing more.
    for worker in (A, B):
        refused = provider.portal_check(worker, cluster.population.alice)
        assert refused.headers["location"].startswith("/portal/login")
        assert provider.password_login(worker, provider_email).status_code == 403
    assert answered_checks(cluster, provider_id) == 1
    # Restored through A (the operator's session serves there too): B lets the owner in.
    account = operator.get(A, f"/portal/console/accounts/{provider_id}")
    assert operator.form(A, f"/portal/console/accounts/{provider_id}/restore", account,
                         {}).status_code == 303
    assert provider.password_login(B, provider_email).headers["location"] == \
        "/portal/second-factor"


async def checks_on_both(cluster: Cluster, *, clients: int,
                         per_client: int) -> dict[str, int]:
    """Checks from many clients at once, each client on one worker, half on each: the
    references answered, with the worker that answered each."""
    population = cluster.population
    answered: dict[str, int] = {}
    run = uuid.uuid4().hex[:8]

    async def client(number: int) -> None:
        worker = number % 2
        # Each client its own session and network: this test is about the audit log.
        headers = demo_headers(population.organisation_ids[number % 2],
                               f"chain-{run}-{number}", f"10.{100 + worker}.{number}.1")
        async with httpx.AsyncClient(base_url=cluster.urls[worker], timeout=30) as http:
            for _ in range(per_client):
                response = await http.post(
                    "/api/v1/checks", headers=headers,
                    json=population.alice.payload(care_date=dt.date.today()))
                assert response.status_code == 201, response.text
                answered[response.json()["reference"]] = worker

    await asyncio.gather(*(client(number) for number in range(clients)))
    return answered


def rempart(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rempart", *args], env=cluster.env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.postgres
def test_checks_on_both_workers_at_once_leave_one_verified_chain(cluster: Cluster) -> None:
    answered = asyncio.run(checks_on_both(cluster, clients=16, per_client=5))
    assert len(answered) == 80
    with cluster.runtime.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT position, detail FROM audit_entries WHERE event = 'check.answered' "
            "ORDER BY position")).all()
        positions = conn.execute(text(
            "SELECT count(*), min(position), max(position) FROM audit_entries")).one()
        head = conn.execute(text("SELECT position FROM audit_head")).scalar_one()
    order = [answered[ref] for _, detail in rows
             if (ref := json.loads(detail).get("reference")) in answered]
    assert len(order) == len(answered)  # every check answered is in the log, once
    assert tuple(positions) == (head, 1, head)  # one sequence, no gap, no duplicate
    switches = sum(1 for left, right in itertools.pairwise(order) if left != right)
    assert switches >= 2, order  # both workers' entries interleave in the one order
    checkpoint = rempart(cluster, "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stdout + checkpoint.stderr
    verify = rempart(cluster, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"{head} entries" in verify.stdout

