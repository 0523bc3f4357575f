"""Breach response from the security console: the same scope and documents as the CLI,
counts only on the page, downloads audited, and bad input refused with nothing run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from checks_support import AMC_A
from console_support import operator_with_passkey
from portal_support import BACKENDS, Browser, PortalEnv, fresh, shared_portal
from rempart.console.wiring import RUNS_DIR
from rempart.coverage.query import CheckRequest

_LINK = re.compile(r'href="(/portal/console/breach/[0-9a-f]{16}/[^"]+)"')


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def utc(moment: dt.datetime) -> str:
    """What a datetime-local field sends: no offset, read as UTC."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def checked_by_a_provider(env: PortalEnv) -> tuple[int, dt.datetime]:
    """A provider account of organisation 0 checks Alice; returns the account and when."""
    account_id, _ = env.account()
    requester = dataclasses.replace(env.population.identity(0), account_id=account_id,
                                    session_id="portal:77")
    alice = env.population.alice
    started = env.clock.now()
    env.app.state.check_service.check(requester=requester, request=CheckRequest(
        nir=alice.nir, birth_date=alice.birth_date, birth_rank=alice.birth_rank,
        amc_number=alice.amc_number, member_number=alice.member_number, category="pharmacy",
        care_date=env.clock.now().date()))
    env.clock.advance(1800)
    return account_id, started


def events(env: PortalEnv, prefix: str) -> list[tuple[str, int | None]]:
    with env.runtime.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(text(
            "SELECT event, account_id FROM audit_entries WHERE event LIKE :p "
            "ORDER BY position"), {"p": prefix + "%"}).all()]


def run(browser: Browser, fields: dict[str, str]) -> httpx.Response:
    page = browser.get("/portal/console/breach")
    assert page.status_code == 200
    return browser.form("/portal/console/breach", page, fields)


def test_an_analyst_scopes_a_breach_and_downloads_the_documents(env: PortalEnv) -> None:
    _, started = checked_by_a_provider(env)
    operator, operator_id = operator_with_passkey(env)
    answer = run(operator, {
        "organisations": str(env.population.organisation_ids[0]),
        "since": utc(started - dt.timedelta(minutes=5)),
        "detected_at": utc(env.clock.now() - dt.timedelta(minutes=1)),
        "dpo_name": "Délégué", "dpo_contact": "dpo@operateur.example",
        "measures": "Compte suspendu\nMots de passe renouvelés"})
    assert answer.status_code == 200, answer.text
    page = html.unescape(answer.text)
    assert 'id="breach-result"' in page
    assert f"<td>{AMC_A}</td><td>1</td>" in page
    alice = env.population.alice
    for personal in (alice.nir, alice.member_number, "Zorglubova", "Quentinette"):
        assert personal not in page

    links = _LINK.findall(answer.text)
    names = {link.split("/", 5)[5] for link in links}
    assert {"scope/scope.json", "scope/scope.csv", "report/article33.fr.md",
            "report/article33.en.md", "report/MANIFEST.json",
            f"report/letters/{AMC_A}/mail-merge.csv"} <= names
    draft = operator.get(next(link for link in links if link.endswith("article33.fr.md")))
    assert draft.status_code == 200
    assert "attachment" in draft.headers["content-disposition"]
    assert "72" in draft.text
    merge = operator.get(next(link for link in links if link.endswith("mail-merge.csv")))
    assert "Zorglubova" in merge.content.decode("utf-8-sig")

    assert ("breach.scope_exported", operator_id) in events(env, "breach.")
    console = events(env, "console.breach")
    assert console[-3:] == [("console.breach_run", operator_id),
                            ("console.breach_file", operator_id),
                            ("console.breach_file", operator_id)]
    # Alice's name, opened for her letter, is a disclosure to this operator.
    assert ("person.viewed", operator_id) in events(env, "person.viewed")


@pytest.mark.parametrize("fields", [
    {"since": "2026-01-01T00:00"},                                   # no account
    {"accounts": "12", "since": ""},                                 # no lower bound
    {"accounts": "12", "since": "2026-02-01T00:00", "until": "2026-01-01T00:00"},  # inverted
    {"accounts": "12", "since": "yesterday"},                        # not a date
    {"accounts": "12; DROP", "since": "2026-01-01T00:00"},           # not ids
    {"organisations": "999999", "since": "2026-01-01T00:00"},        # no such organisation
])
def test_bad_input_gets_a_form_error_and_runs_nothing(env: PortalEnv,
                                                      fields: dict[str, str]) -> None:
    operator, _ = operator_with_passkey(env)
    runs = env.runtime.settings.data_dir / RUNS_DIR
    before = sorted(runs.iterdir()) if runs.exists() else []
    audited = events(env, "console.breach") + events(env, "breach.")
    answer = run(operator, fields)
    assert answer.status_code == 400
    assert 'id="page-error"' in answer.text
    assert (sorted(runs.iterdir()) if runs.exists() else []) == before
    assert events(env, "console.breach") + events(env, "breach.") == audited


def test_only_files_of_a_run_are_handed_out(env: PortalEnv) -> None:
    operator, _ = operator_with_passkey(env)
    for url in ("/portal/console/breach/0123456789abcdef/scope/scope.json",
                "/portal/console/breach/not-a-run/scope/scope.json",
                "/portal/console/breach/0123456789abcdef/..%2F..%2Fkeyring.json"):
        assert operator.get(url).status_code == 404
    provider, _, _, _ = env.signed_in()
    assert provider.post("/portal/console/breach", data={}).status_code == 403
