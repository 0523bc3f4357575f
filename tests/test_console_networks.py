"""The security console's page about the listed shared networks, over HTTP with a real
operator session, the guard in memory and in Redis: the entries as listed, the
organisations seen checking through each (from real portal checks), the watch's
alert under its network and on the alerts page, closed there; operators only; no
address, no person on the page (rempart.console.network_pages)."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import text

from console_support import operator_with_passkey
from guard_fixtures import REDIS_URL, redis_prefix
from portal_support import Browser, PortalEnv, fresh, portal_env, sqlite_instance
from rempart.alerts.store import AlertSource, AlertStore
from rempart.guard import GuardSettings
from rempart.guard.netwatch import LEARN_S, NOVELTY
from rempart.guard.shared import parse_entries

HOSTED = "198.51.100."
GROUP = "203.0.113."
LISTED = parse_entries({"network": [
    {"label": "hosted-x", "cidrs": [HOSTED + "0/24"]},
    {"label": "group-y", "cidrs": [GROUP + "0/25"], "organisations": ["4242", "4243"]}]})


@pytest.fixture(scope="module", params=["memory", "redis"])
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    directory = tmp_path_factory.mktemp("portal")
    with redis_prefix() as prefix:
        guard = GuardSettings(storage_uri=REDIS_URL, key_prefix=prefix) \
            if request.param == "redis" else GuardSettings()
        # The list is a start-up setting: the app is built with it.
        guard = dataclasses.replace(guard, shared_networks=LISTED)
        with portal_env(dataclasses.replace(sqlite_instance(directory), guard=guard)) as env:
            yield env


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def provider_at(env: PortalEnv, address: str) -> Browser:
    browser = env.browser(address=address)
    _, email = env.account()
    env.enrol_totp(browser, email)
    return browser


def test_an_operator_sees_the_networks_their_organisations_and_alerts(env: PortalEnv) -> None:
    provider = provider_at(env, HOSTED + "7")
    alice = env.population.alice.payload()
    for _ in range(2):
        assert provider.form("/portal/check", provider.get("/portal/check"),
                             alice).status_code == 200
    env.clock.advance(61)  # the watch folds its counts once a minute of checks
    assert provider.form("/portal/check", provider.get("/portal/check"),
                         alice).status_code == 200

    operator, _ = operator_with_passkey(env)
    console = operator.get("/portal/console")
    assert 'href="/portal/console/networks"' in console.text  # linked from the console
    page = operator.get("/portal/console/networks")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    organisation = str(env.population.organisation_ids[0])
    hosted, group = shown.split("hosted-x</code>")[1].split("group-y</code>")
    assert HOSTED + "0/24" in hosted
    assert "aucune : chaque organisation" in hosted  # names none: all scoped
    assert "apprentissage de ses organisations" in hosted  # its first day
    row = hosted.split('class="network-organisations"')[1].split("</tr>")[1]
    assert f"<td>{organisation}</td><td>3</td>" in row
    assert GROUP + "0/25" in group
    assert "4242, 4243" in group.split('class="network-named"')[1].split("</dd>")[0]
    assert "aucune vérification vue" in group
    assert HOSTED + "7" not in shown  # no client address
    assert "Alice" not in shown  # no person
    assert alice["nir"] not in shown

    # A day later, 30 organisations new to it within the hour: the guard's watch alerts.
    watch = env.app.state.guard_gate._guard.network_watch
    env.clock.advance(LEARN_S + 3600)
    start = env.clock.now().timestamp()
    for n in range(30):
        for k in range(3):
            watch.note(HOSTED + str(100 + n), f"9{n:03d}", start + 60 * n + k)
    watch.fold(start + 1900)
    [alert] = [a for a in AlertStore(engine=env.runtime.engine).open()
               if a.source is AlertSource.SHARED_NETWORK]
    assert alert.network == "hosted-x"
    assert alert.account_id is None

    operator, _ = operator_with_passkey(env)  # the first one's session has expired
    page = operator.get("/portal/console/networks")
    hosted = html.unescape(page.text).split("hosted-x</code>")[1].split("group-y</code>")[0]
    assert f'id="alert-{alert.id}"' in hosted
    assert alert.reasons[0] in hosted
    assert "surveillé (première vérification" in hosted
    console = operator.get("/portal/console")
    listed = html.unescape(console.text).split(f'id="alert-{alert.id}"')[1].split("</tr>")[0]
    assert "Surveillance des réseaux partagés" in listed
    assert "Réseau hosted-x" in listed
    closed = operator.form(f"/portal/console/alerts/{alert.id}/close", page, {})
    assert closed.status_code == 303
    page = operator.get("/portal/console/networks")
    assert f'id="alert-{alert.id}"' not in page.text
    with env.runtime.engine.connect() as conn:
        detail = conn.execute(text("SELECT detail FROM audit_entries WHERE event = "
                                   "'guard.shared_network' ORDER BY position DESC")).scalar()
    assert orjson.loads(str(detail))["kind"] == NOVELTY


def test_only_operators_reach_the_page(env: PortalEnv) -> None:
    provider, _, _, _ = env.signed_in()
    assert provider.get("/portal/console/networks").status_code == 403
    anonymous = env.browser()
    assert anonymous.get("/portal/console/networks").headers["location"].startswith(
        "/portal/login")
