"""The exfiltration guard on the check path: its rungs at the HTTP edge, the answer that
withholds telling nothing about the person, fail-closed without its state, alerts stored,
and on by default."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from checks_support import AppClient, Population, build_population, make_app
from rempart.alerts.models import AlertRow
from rempart.clock import ManualClock
from rempart.coverage.models import Check
from rempart.disclosure import Requester
from rempart.guard import CheckContext, GuardSettings, LookupOutcome
from rempart.guard.gate import CheckGate
from rempart.runtime import Runtime
from rempart.settings import Settings

CHECKS = "/api/v1/checks"
WITHHOLDING = {429, 401, 403}


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population, guard=True)) as test_client:
        yield test_client


def _scrape_until_withheld(client: AppClient, population: Population) -> int:
    """Checks one second apart, like a script, until the guard withholds an answer."""
    clock = client_clock(population)
    for n in range(300):
        person = population.alice if n % 2 else population.stranger
        response = client.post(CHECKS, json=person.payload())
        if response.status_code != 201:
            assert response.status_code in WITHHOLDING
            return n
        clock.advance(1)
    raise AssertionError("the guard never withheld an answer")


_CLOCKS: dict[int, ManualClock] = {}


def client_clock(population: Population) -> ManualClock:
    return _CLOCKS[id(population)]


@pytest.fixture(autouse=True)
def _clock(runtime: Runtime, population: Population) -> None:
    assert isinstance(runtime.clock, ManualClock)
    _CLOCKS[id(population)] = runtime.clock


def _shape(response: object) -> tuple[int, list[str], dict[str, object]]:
    body = response.json()  # type: ignore[attr-defined]
    body.pop("request_id", None)
    headers = response.headers  # type: ignore[attr-defined]
    kept = sorted(k for k in headers if k not in ("x-request-id", "content-length"))
    return response.status_code, kept, body  # type: ignore[attr-defined]


def test_a_script_is_stopped_and_the_refusal_is_the_same_for_anyone(
        client: AppClient, population: Population, runtime: Runtime) -> None:
    allowed = _scrape_until_withheld(client, population)
    assert allowed < 120
    known = client.post(CHECKS, json=population.alice.payload())
    unknown = client.post(CHECKS, json=population.stranger.payload())
    assert known.status_code in WITHHOLDING
    assert _shape(known) == _shape(unknown)
    for secret in population.alice.secrets():
        assert secret not in known.text
    body = known.json()
    assert set(body.get("error", body)) >= {"code", "message"} or "code" in body
    if known.status_code == 401:
        assert "insufficient_user_authentication" in known.headers.get("www-authenticate", "") \
            or body.get("error", body).get("code") == "session_revoked"
    # Nothing withheld was recorded as an answered check.
    with runtime.engine.connect() as conn:
        recorded = conn.execute(select(func.count()).select_from(Check)).scalar_one()
    assert recorded == allowed


def test_alerts_reach_the_stored_sink_without_personal_data(
        client: AppClient, population: Population, runtime: Runtime) -> None:
    _scrape_until_withheld(client, population)
    for _ in range(5):
        client.post(CHECKS, json=population.stranger.payload())
    with runtime.engine.connect() as conn:
        alerts = conn.execute(select(AlertRow.source, AlertRow.account_id, AlertRow.action,
                                     AlertRow.reasons)).all()
    assert alerts, "a step-up or a suspension raises an alert"
    assert all(a.source == "guard" and a.account_id == "100" for a in alerts)
    text = repr(alerts)
    for person in (population.alice, population.stranger):
        for secret in person.secrets():
            assert secret not in text


def test_unreachable_guard_state_fails_closed(runtime: Runtime,
                                              population: Population) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, guard=GuardSettings(
        storage_uri="redis://127.0.0.1:1/0", redis_timeout_s=0.2))
    app = make_app(runtime, population, guard=True)
    with AppClient(app) as client:
        response = client.post(CHECKS, json=population.alice.payload())
    assert response.status_code == 503
    assert response.headers["retry-after"]
    for secret in population.alice.secrets():
        assert secret not in response.text
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Check)).scalar_one() == 0


def test_the_guard_is_on_unless_a_setting_turns_it_off(tmp_path: object) -> None:
    assert Settings.load().guard_enabled is True


def test_baseline_setting_turns_it_off(runtime: Runtime, population: Population) -> None:
    app = make_app(runtime, population, guard=False)
    assert app.state.guard_gate is None
    with AppClient(app) as client:
        for _ in range(150):  # the same frozen-clock burst passes without the guard
            assert client.post(CHECKS, json=population.alice.payload()).status_code == 201


def test_the_guard_tells_a_retried_near_miss_from_a_new_guess(
        client: AppClient, population: Population, runtime: Runtime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[LookupOutcome] = []
    after = CheckGate.after

    # Spied where the (interpreted) check service calls the gate: a compiled guard's
    # gate calls Guard.after_lookup natively, past any patch of the class.
    def spy(self: CheckGate, ctx: CheckContext, requester: Requester,
            outcome: LookupOutcome) -> None:
        seen.append(outcome)
        after(self, ctx, requester, outcome)

    monkeypatch.setattr(CheckGate, "after", spy)
    alice = population.alice
    # A near miss: the card's numbers match a person, another detail (the rank) does not.
    # Two checks a session, from two accounts, so that no step-up stops the sequence.
    with AppClient(make_app(runtime, population, 1, guard=True)) as other:
        for sender, body in ((client, alice.payload(birth_rank=2)),
                             (client, alice.payload(category="optical", birth_rank=2)),
                             (other, alice.payload()), (other, alice.payload(birth_rank=3))):
            assert sender.post(CHECKS, json=body).status_code == 201
            client_clock(population).advance(30)
    keys = [outcome.attempt_key for outcome in seen]
    assert [outcome.near_miss for outcome in seen] == [True, True, False, True]
    assert keys[0] == keys[1]  # the same details, whatever the care category
    assert keys[2] is None
    assert keys[3] is not None
    assert keys[3] != keys[0]
    assert len({o.person_key for o in seen}) == 1
    assert not any(secret in key for key in (keys[0], keys[3]) if key
                   for secret in alice.secrets())


def _first_checks_of_a_session(client: AppClient, population: Population,
                               ranks: list[int]) -> list[int]:
    """A new session whose first checks are alice's card with these birth ranks (hers is
    1), some seconds apart: the statuses answered."""
    statuses = []
    for n, rank in enumerate(ranks):
        statuses.append(client.post(CHECKS, json=population.alice.payload(
            birth_rank=rank)).status_code)
        client_clock(population).advance(9 + 5 * (n % 3))
    return statuses


def test_a_card_mistyped_and_sent_again_is_not_held_up(
        client: AppClient, population: Population) -> None:
    # (Its failures still count towards the session's ceiling of failed matches: a
    # flood of retries is slowed down like any other.)
    assert _first_checks_of_a_session(client, population, [2] * 4 + [1]) == [201] * 5


def test_guessing_a_persons_details_is_held_up(
        client: AppClient, population: Population) -> None:
    statuses = _first_checks_of_a_session(client, population, [2, 3, 4, 5, 6, 7])
    assert set(statuses) & WITHHOLDING


