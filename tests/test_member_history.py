"""Who looked at me: a link signed by the insurer opens the person's own history, in
French or English, as a page and through the API; a check they do not recognise becomes
an alert. Forged, expired and replayed links open nothing and change nothing."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from checks_support import AMC_A, AMC_B, AppClient, Population, build_population, make_app
from member_support import HttpsClient, Insurers, provider_checks, register_insurers
from rempart.alerts.models import AlertRow
from rempart.member.models import MemberSession
from rempart.runtime import Runtime

PAGE = "/moi/historique"


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def app(runtime: Runtime, population: Population) -> Any:
    return make_app(runtime, population)


@pytest.fixture
def provider(app: Any) -> Iterator[AppClient]:
    with AppClient(app) as client:
        yield client


@pytest.fixture
def member(app: Any) -> Iterator[HttpsClient]:
    with HttpsClient(app) as client:
        yield client


@pytest.fixture
def insurers(runtime: Runtime, population: Population) -> Insurers:
    return register_insurers(runtime)


def open_page(member: HttpsClient, token: str, lang: str = "fr") -> Any:
    return member.post(PAGE, data={"token": token, "lang": lang})


def audit_events(runtime: Runtime, event: str) -> list[dict[str, Any]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT subject_id, fields, detail, client_address "
                                 "FROM audit_entries WHERE event = :e ORDER BY position"),
                            {"e": event}).all()
    return [{"subject_id": r[0], "fields": r[1], "detail": orjson.loads(r[2]),
             "client_address": r[3]} for r in rows]


def alerts(runtime: Runtime) -> list[AlertRow]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(select(AlertRow)).all())


def test_the_link_opens_the_persons_own_history_in_french(
        member: HttpsClient, provider: AppClient, population: Population, insurers: Insurers,
        runtime: Runtime) -> None:
    refs = provider_checks(provider, population)
    claimed = provider.post("/api/v1/claims", json={
        "check_reference": refs["alice"], "category": "optical",
        "care_date": population.alice.payload()["care_date"], "billed_cents": 50_000,
        "base_tariff_cents": 1_000, "amo_rate_bp": 6000, "amc_cents": 15_000})
    assert claimed.status_code == 201

    entered = open_page(member, insurers.link(population.alice))
    assert entered.status_code == 303
    assert entered.headers["location"] == f"{PAGE}?lang=fr"
    cookie = entered.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=lax" in cookie

    page = member.get(entered.headers["location"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert '<html lang="fr">' in html
    assert "Qui a consulté mes droits" in html
    assert "Pharmacie 0 (Pharmacie)" in html
    assert "Optique" in html
    assert "Droits confirmés" in html
    assert "Facture acceptée" in html
    assert refs["alice"] in html
    for other in ("bob", "carol", "stranger"):
        assert refs[other] not in html
    assert population.alice.member_number not in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html

    [viewed] = audit_events(runtime, "member.history_viewed")
    assert viewed["subject_id"] == population.alice.beneficiary_id
    assert viewed["fields"] == "care_category,claim,coverage"
    assert viewed["detail"] == {"channel": "page", "amc": AMC_A, "items": 2}


def test_the_page_in_english_and_anothers_history(
        member: HttpsClient, provider: AppClient, population: Population,
        insurers: Insurers) -> None:
    refs = provider_checks(provider, population)
    entered = open_page(member, insurers.link(population.bob), lang="en")
    html = member.get(entered.headers["location"]).text
    assert '<html lang="en">' in html
    assert "Who checked my cover" in html
    assert "Optical" in html
    assert "No cover confirmed" in html  # Bob's contract had ended: still his history
    assert refs["bob"] in html
    assert refs["alice"] not in html
    french = member.get(f"{PAGE}?lang=fr").text
    assert "Pas de droits confirmés" in french


def test_the_api_answers_with_the_same_link_as_bearer(
        member: HttpsClient, provider: AppClient, population: Population, insurers: Insurers,
        runtime: Runtime) -> None:
    refs = provider_checks(provider, population)
    answer = member.get("/api/v1/me/history",
                        headers={"Authorization": f"Bearer {insurers.link(population.carol)}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["truncated"] is False
    assert [(i["kind"], i["reference"], i["outcome"], i["category"], i["profession"])
            for i in body["items"]] == [("check", refs["carol"], "not_covered", "optical",
                                         "pharmacy")]
    assert audit_events(runtime, "member.history_viewed")[0]["detail"]["channel"] == "api"


def test_a_link_works_once(member: HttpsClient, population: Population, insurers: Insurers,
                           runtime: Runtime) -> None:
    token = insurers.link(population.alice)
    first = member.get("/api/v1/me/history", headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 200
    again = member.get("/api/v1/me/history", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "not_authenticated"
    page = open_page(member, token)
    assert page.status_code == 401
    assert "pas valable ou a expiré" in page.text
    refused = audit_events(runtime, "member.link_refused")
    assert [r["detail"]["why"] for r in refused] == ["replayed", "replayed"]
    assert len(audit_events(runtime, "member.history_viewed")) == 1


def _tampered(token: str, **claims: Any) -> str:
    header, payload, signature = token.split(".")
    doc = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc.update(claims)
    forged = base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


BAD_LINKS = {
    "unknown key": lambda i, p: i.link(p.alice, key=Ed25519PrivateKey.generate()),
    "another insurer's key": lambda i, p: i.link(p.alice, key=i.keys[AMC_B]),
    "payload changed": lambda i, p: _tampered(i.link(p.carol), sub=p.alice.member_number),
    "expired": lambda i, p: i.link(p.alice, now=i.runtime.clock.now().replace(year=2025)),
    "too long-lived": lambda i, p: i.link(p.alice, lifetime_s=3600),
    "unknown member": lambda i, p: i.link(p.alice, member_number="MA9999"),
    "not a token": lambda i, p: "not-a-token",
    "empty": lambda i, p: "",
}


@pytest.mark.parametrize("case", sorted(BAD_LINKS))
def test_a_bad_link_opens_nothing_and_changes_nothing(
        case: str, member: HttpsClient, population: Population, insurers: Insurers,
        runtime: Runtime, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    token = BAD_LINKS[case](insurers, population)
    page = open_page(member, token)
    assert page.status_code == 401
    assert "pas valable ou a expiré" in page.text
    assert "set-cookie" not in page.headers
    api = member.get("/api/v1/me/history", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MemberSession)).scalar_one() == 0
    assert audit_events(runtime, "member.history_viewed") == []
    assert len(audit_events(runtime, "member.link_refused")) == 2
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    for secret in (population.alice.member_number, population.carol.member_number):
        assert secret not in logged


def test_a_person_reports_a_check_they_do_not_recognise(
        member: HttpsClient, provider: AppClient, population: Population, insurers: Insurers,
        runtime: Runtime) -> None:
    refs = provider_checks(provider, population)
    entered = open_page(member, insurers.link(population.alice))
    html = member.get(entered.headers["location"]).text
    csrf = html.split('name="csrf" value="')[1].split('"')[0]

    wrong = member.post("/moi/signalement", data={"reference": refs["alice"], "csrf": "x" * 43})
    assert wrong.status_code == 401
    not_mine = member.post("/moi/signalement", data={"reference": refs["bob"], "csrf": csrf})
    assert not_mine.status_code == 404
    assert alerts(runtime) == []

    done = member.post("/moi/signalement",
                       data={"reference": refs["alice"], "csrf": csrf, "lang": "en"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{PAGE}?lang=en&notice=reported"
    assert "Thank you: your report" in member.get(done.headers["location"]).text
    again = member.post("/moi/signalement", data={"reference": refs["alice"], "csrf": csrf})
    assert again.headers["location"].endswith("notice=already")

    [alert] = alerts(runtime)
    assert alert.source == "member_report"
    assert alert.severity == "high"
    assert alert.check_reference == refs["alice"]
    assert (alert.account_id, alert.organisation_id) == (
        "100", str(population.organisation_ids[0]))
    [reported] = audit_events(runtime, "member.check_reported")
    assert reported["subject_id"] == population.alice.beneficiary_id
    assert reported["detail"] == {"reference": refs["alice"]}
    assert "Signalée" in member.get(PAGE).text


def test_a_report_through_the_api(member: HttpsClient, provider: AppClient,
                                  population: Population, insurers: Insurers,
                                  runtime: Runtime) -> None:
    refs = provider_checks(provider, population)

    def report(reference: str) -> Any:
        return member.post("/api/v1/me/reports", json={"reference": reference}, headers={
            "Authorization": f"Bearer {insurers.link(population.alice)}"})

    assert report(refs["carol"]).status_code == 404
    first = report(refs["alice"])
    assert (first.status_code, first.json()) == (201, {"status": "reported"})
    assert report(refs["alice"]).json() == {"status": "already_reported"}
    assert len(alerts(runtime)) == 1


def test_the_session_ends_after_fifteen_minutes(member: HttpsClient, population: Population,
                                                insurers: Insurers, runtime: Runtime) -> None:
    entered = open_page(member, insurers.link(population.alice))
    assert member.get(entered.headers["location"]).status_code == 200
    runtime.clock.advance(15 * 60)  # type: ignore[attr-defined]
    expired = member.get(PAGE)
    assert expired.status_code == 401
    assert "pas valable ou a expiré" in expired.text


def test_without_a_session_the_page_shows_nothing(member: HttpsClient) -> None:
    for response in (member.get(PAGE), member.post("/moi/signalement", data={"csrf": "x"}),
                     member.post(PAGE, json={"token": "x"})):
        assert response.status_code == 401
        assert "<table" not in response.text
