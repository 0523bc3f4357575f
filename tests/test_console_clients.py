"""The security console over HTTP for practice software (API clients): the client and
its keys as the guard holds them (suspended, held for a step-up), a key's restore, the
client contained and restored (its alerts closed), each action recorded with who did
it; CSRF on every form (rempart.console.client_pages)."""

from __future__ import annotations

import html
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import text

from auth_support import DpopClient
from console_support import operator_with_passkey
from portal_support import (
    GUARD_BACKENDS,
    PortalEnv,
    fresh,
    shared_portal_or_redis_guard,
)
from rempart.alerts.store import AlertStore
from test_api_step_up import ELSEWHERE, HOME, Key, _code, _software, _stepped_up_key


@pytest.fixture(scope="module", params=GUARD_BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal_or_redis_guard(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def client_events(env: PortalEnv, client_id: str) -> list[tuple[str, int, dict[str, object]]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, account_id, detail FROM audit_entries "
                                 "WHERE event LIKE 'console.client%' ORDER BY position")).all()
    found = [(r[0], r[1], orjson.loads(r[2])) for r in rows]
    return [e for e in found if e[2].get("target_client") == client_id]


def suspended_key(env: PortalEnv, client: tuple[str, str]) -> Key:
    """A key stepped up that never answers: the guard suspends it."""
    key, answer = _stepped_up_key(env, client)
    _code(answer)
    away = env.browser(address=ELSEWHERE)
    for _ in range(40):
        env.clock.advance(2)
        last = key.check(away)
        if last.json()["error"]["code"] != "step_up_required":
            break
    assert last.json()["error"]["code"] == "session_revoked"
    return key


def test_an_analyst_restores_a_key_then_contains_and_restores_the_client(
        env: PortalEnv) -> None:
    client = _software(env)
    client_id = client[0]
    key = suspended_key(env, client)
    waiting, answer = _stepped_up_key(env, client)  # another key, held for a step-up
    _code(answer)
    operator, operator_id = operator_with_passkey(env)

    alerts = operator.get("/portal/console")
    assert f'href="/portal/console/clients/{client_id}"' in alerts.text
    page = operator.get(f"/portal/console/clients/{client_id}")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert "Logiciel d'officine" in shown
    assert client_id in shown
    assert 'id="suspend-client"' in page.text
    # (The portal speaks French by default.)
    rows = {jkt: html.unescape(page.text.split(f'id="key-{jkt}"')[1].split("</tr>")[0])
            for jkt in (key.dpop.jkt, waiting.dpop.jkt)}
    assert "suspendue par la garde" in rows[key.dpop.jkt]
    assert f"/keys/{key.dpop.jkt}/restore" in rows[key.dpop.jkt]
    assert "en attente d'un second facteur" in rows[waiting.dpop.jkt]
    assert "/restore" not in rows[waiting.dpop.jkt]
    assert "moved to another network" in shown  # the guard's reasons, in its timeline

    home = env.browser(address=HOME)
    assert key.check(home).json()["error"]["code"] == "session_revoked"
    done = operator.form(f"/portal/console/clients/{client_id}/keys/{key.dpop.jkt}/restore",
                         page, {})
    assert done.status_code == 303
    env.clock.advance(300)  # its burst of refused checks out of the minute's window
    key.issue(home)
    answer = key.check(home)
    assert answer.status_code == 201, answer.text  # the key checks again
    again = operator.form(f"/portal/console/clients/{client_id}/keys/{key.dpop.jkt}/restore",
                          page, {})
    assert again.status_code == 404  # nothing left to lift

    # Without its CSRF token, a form changes nothing.
    forged = operator.post(f"/portal/console/clients/{client_id}/suspend", data={})
    assert forged.status_code in (400, 403)
    assert key.check(home).status_code == 201

    page = operator.get(f"/portal/console/clients/{client_id}")
    assert operator.form(f"/portal/console/clients/{client_id}/suspend", page,
                         {}).status_code == 303
    refused = key.check(home)
    assert refused.json()["error"]["code"] == "account_suspended"
    fresh_key = Key(env, *client, dpop=DpopClient(env.clock))
    fresh_key.issue(home)
    assert fresh_key.check(home).json()["error"]["code"] == "account_suspended"
    page = operator.get(f"/portal/console/clients/{client_id}")
    assert "Suspendu par la garde" in page.text
    assert 'id="restore-client"' in page.text
    assert "suspended by an operator" in page.text
    assert "refusée avec le logiciel" in html.unescape(page.text)

    assert operator.form(f"/portal/console/clients/{client_id}/restore", page,
                         {}).status_code == 303
    assert key.check(home).status_code == 201  # refused with its client: free again
    assert fresh_key.check(home).status_code == 201
    assert not [a for a in AlertStore(engine=env.runtime.engine).open()
                if a.account_id == f"client:{client_id}"]
    events = client_events(env, client_id)
    assert [(e, who) for e, who, _ in events] == [
        ("console.client_key_restored", operator_id), ("console.client_suspended", operator_id),
        ("console.client_restored", operator_id)]
    assert events[0][2]["key"] == key.dpop.jkt
    assert int(str(events[2][2]["alerts_closed"])) >= 1


def test_the_client_is_shown_from_its_organisation_s_accounts(env: PortalEnv) -> None:
    client_id, _ = _software(env)
    member = env.auth.accounts.in_organisation(env.population.organisation_ids[0])[0]
    operator, _ = operator_with_passkey(env)
    page = operator.get(f"/portal/console/accounts/{member.id}")
    assert f'href="/portal/console/clients/{client_id}"' in page.text
    assert operator.get("/portal/console/clients/rc_unknown").status_code == 404
    assert operator.get("/portal/console/clients/no%20such").status_code == 404
    provider, _, _, _ = env.signed_in()
    assert provider.get(f"/portal/console/clients/{client_id}").status_code == 403
