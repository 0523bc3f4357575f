"""Redis stopped, on a private server: disclosure fails closed (503 guard_unavailable, no
check answered), sign-in says it is unavailable, /readyz names Redis; once Redis is back
the same worker answers checks and logins again, never restarted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import httpx
import pytest

from checks_support import AppClient, Population, build_population, make_app
from failure_load import CheckLoad, many_organisations
from failure_servers import PrivateRedis, private_redis  # noqa: F401 (a fixture)
from ops_support import personal_values
from portal_support import PORTAL_AUTH, csrf_of, portal_env
from rempart.guard.config import GuardSettings
from rempart.runtime import Runtime
from server_support import uvicorn_server, worker_env
from settings_support import sqlite_settings
from test_fhir import eligibility_request, submit

pytestmark = pytest.mark.postgres

# What an in-flight check may still take to be answered once Redis is gone: the
# guard's socket time-out (0.5 s) and a margin for the loaded machine.
IN_FLIGHT_S = 2.0


async def sign_in(base_url: str) -> httpx.Response:
    """A password login through the portal's form (an unknown login: the throttle is
    consulted all the same)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
        page = await browser.get("/portal/login")
        return await browser.post("/portal/login", data={
            "login": "nobody@pharmacie.example", "password": "not-the-password",
            "csrf_token": csrf_of(page)})


def test_redis_stopped_fails_closed_and_recovers(
        served_postgres: tuple[Runtime, Population], private_redis: PrivateRedis,  # noqa: F811
        tmp_path: Path) -> None:
    runtime, population = served_postgres
    log_path = tmp_path / "server.log"
    moments: dict[str, float] = {}
    seen: dict[str, httpx.Response] = {}
    env = worker_env(runtime, REMPART_THROTTLE_STORAGE=private_redis.url,
                     REMPART_GUARD_STORAGE=private_redis.url.replace("/0", "/1"),
                     REMPART_COOKIE_SECURE="0")

    async def outage(load: CheckLoad) -> None:
        await load.wait_for(lambda: len(load.created()) >= 30, 30)
        await asyncio.to_thread(private_redis.stop)
        moments["down"] = time.monotonic()
        await load.wait_for_status(503, 10, since=moments["down"])
        seen["ready down"] = await load.get("/readyz")
        seen["login down"] = await sign_in(base_url)
        await asyncio.sleep(IN_FLIGHT_S)  # refusals only, for a while
        moments["restart"] = time.monotonic()
        await asyncio.to_thread(private_redis.start)
        moments["up"] = time.monotonic()
        await load.wait_for_status(201, 30, since=moments["up"])
        seen["ready up"] = await load.get("/readyz")
        seen["login up"] = await sign_in(base_url)

    with uvicorn_server(log_path, env) as (base_url, server):
        load = CheckLoad(base_url, population, many_organisations(runtime))
        asyncio.run(load.run(outage))
        assert server.poll() is None  # the same process throughout

    assert {answer.status for answer in load.answers} <= {201, 503}
    # Fail closed: once Redis is gone, no check is answered until it is back.
    outage_answers = [answer for answer in load.answers
                      if moments["down"] + IN_FLIGHT_S <= answer.at < moments["restart"]]
    assert outage_answers
    assert {answer.status for answer in outage_answers} == {503}
    for answer in load.answers:
        if answer.status == 503:
            assert answer.code == "guard_unavailable"
            assert answer.retry_after is not None

    assert seen["ready down"].status_code == 503
    assert seen["ready down"].json()["failing"] == ["redis"]
    assert seen["ready up"].status_code == 200

    login_down = seen["login down"]
    assert login_down.status_code == 503
    assert login_down.headers["content-type"].startswith("text/html")
    assert "La connexion est momentanément indisponible" in login_down.text  # French first
    assert login_down.headers["retry-after"]
    assert seen["login up"].status_code == 401  # an ordinary refusal: the throttle counts again

    logged = log_path.read_text()
    for leaked in [*personal_values(population), "Traceback"]:
        assert leaked not in logged
    events = {json.loads(line)["event"] for line in logged.splitlines() if line.startswith("{")}
    assert "guard unavailable" in events


def test_portal_pages_say_so_while_redis_is_down(
        private_redis: PrivateRedis, tmp_path: Path) -> None:  # noqa: F811
    """A signed-in provider's check page, and the second-factor page of one signing in:
    the portal's own error page (503), never JSON nor a stack trace; the check works
    again once Redis is back."""
    base = sqlite_settings(tmp_path / "portal")
    settings = dataclasses.replace(base, guard=GuardSettings(
        storage_uri=private_redis.url.replace("/0", "/1"), key_prefix="drill"))
    auth = dataclasses.replace(PORTAL_AUTH, throttle_storage=private_redis.url)
    with portal_env(settings, auth_settings=auth) as env:
        browser, _, email, _ = env.signed_in()
        alice = {key: str(value) for key, value in env.population.alice.payload().items()}
        signing_in = env.browser()
        password_done = env.password_login(signing_in, email)
        assert password_done.status_code == 303  # on to the second factor
        second_factor = signing_in.get(password_done.headers["location"])
        private_redis.stop()
        refused = browser.form("/portal/check", browser.get("/portal/check"), alice)
        code_refused = signing_in.form("/portal/second-factor/totp", second_factor,
                                       {"code": "000000"})
        private_redis.start()
        answered = browser.form("/portal/check", browser.get("/portal/check"), alice)
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("text/html")
    assert "Ce service est momentanément indisponible" in refused.text
    assert refused.headers["retry-after"]
    for leaked in env.population.alice.secrets():
        assert leaked not in refused.text
    assert code_refused.status_code == 503
    assert code_refused.headers["content-type"].startswith("text/html")
    assert "La connexion est momentanément indisponible" in code_refused.text
    assert answered.status_code == 200
    assert 'id="check-reference"' in answered.text


def test_fhir_and_api_refusals_while_redis_is_down(private_redis: PrivateRedis,  # noqa: F811
                                                   tmp_path: Path) -> None:
    """The same refusal in each dialect: a problem document for the JSON API, an
    OperationOutcome (code `transient`) for FHIR; both 503 with a Retry-After."""
    settings = dataclasses.replace(sqlite_settings(tmp_path / "instance"),
                                   guard=GuardSettings(storage_uri=private_redis.url))
    with Runtime.open(settings, create_keys=True) as runtime:
        population = build_population(runtime)
        private_redis.stop()
        with AppClient(make_app(runtime, population, guard=True)) as client:
            api = client.post("/api/v1/checks", json=population.alice.payload())
            outcome = submit(client, eligibility_request(population.alice))
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "guard_unavailable"
    assert outcome.status_code == 503
    assert outcome.headers["content-type"].startswith("application/fhir+json")
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert [issue["code"] for issue in outcome.json()["issue"]] == ["transient"]
    for answer in (api, outcome):
        assert answer.headers["retry-after"] == "5"
        for leaked in population.alice.secrets():
            assert leaked not in answer.text
