"""The fast route of POST /api/v1/checks answers exactly as the documented FastAPI route.

The same app is built twice: as served (the fast route first), and with the fast route
taken out (FastAPI's own route then answers). Every request goes to both; statuses,
headers that matter and bodies must be the same, bar the fresh reference, time and
request id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from checks_support import AppClient, Population, build_population, make_app
from rempart.coverage.check_endpoint import create_check_fast
from rempart.runtime import Runtime
from rempart.web import DemoHeaderIdentity, create_app

URL = "/api/v1/checks"
_VOLATILE = {"reference", "checked_at"}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the HTTP edge does not depend on the backend


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


def without_fast_route(app: Any) -> Any:
    app.router.routes[:] = [route for route in app.router.routes
                            if not (isinstance(route, Route)
                                    and route.endpoint is create_check_fast)]
    return app


@pytest.fixture
def clients(runtime: Runtime, population: Population) -> Iterator[tuple[AppClient, AppClient]]:
    fast = make_app(runtime, population)
    assert any(isinstance(r, Route) and r.endpoint is create_check_fast
               for r in fast.router.routes[:1])
    with AppClient(fast) as served, \
            AppClient(without_fast_route(make_app(runtime, population))) as documented:
        yield served, documented


def comparable(response: httpx.Response) -> tuple[Any, ...]:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.content
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _VOLATILE and k != "request_id"}
    return (response.status_code, response.headers.get("content-type"),
            response.headers.get("allow"), body)


def same_answer(clients: tuple[AppClient, AppClient], method: str = "POST",
                **kwargs: Any) -> httpx.Response:
    served, documented = clients
    fast = served.request(method, URL, **kwargs)
    reference = documented.request(method, URL, **kwargs)
    assert comparable(fast) == comparable(reference)
    return fast


def test_answers_are_the_same_for_good_and_bad_checks(
        clients: tuple[AppClient, AppClient], population: Population) -> None:
    alice = population.alice
    assert same_answer(clients, json=alice.payload()).status_code == 201
    assert same_answer(clients, json=population.stranger.payload()).status_code == 201
    bodies: list[Any] = [
        alice.payload(nir=alice.nir[:-1] + "0"), alice.payload(birth_rank="1"),
        alice.payload(birth_rank=1.0), alice.payload(birth_rank=True),
        alice.payload(birth_rank=10**30), alice.payload(birth_date=19850517),
        alice.payload(birth_date="17/05/1985"), alice.payload(category="tattoo"),
        alice.payload(care_date=dt.date(2001, 1, 1)), alice.payload(extra="field"),
        {k: v for k, v in alice.payload().items() if k != "nir"}, [], None, "text", 1, {},
    ]
    for body in bodies:
        assert same_answer(clients, json=body).status_code == 422


@pytest.mark.parametrize(("content", "content_type"), [
    (b"{", "application/json"),
    (b'{"nir": NaN}', "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b'\xef\xbb\xbf{"nir": 1}', "application/json"),
    (b'{"birth_rank": 18446744073709551616}', "application/json"),
    (b'{"nir": "1"}', "text/plain"),
    (b'{"nir": "1"}', "application/vnd.rempart+json; charset=utf-8"),
    (b'{"nir": "1"}', "APPLICATION/JSON"),
    (b'{"nir": "1"}', None),
])
def test_answers_are_the_same_for_raw_bodies(clients: tuple[AppClient, AppClient],
                                             content: bytes, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert same_answer(clients, content=content, headers=headers).status_code >= 400


def test_other_methods_and_missing_identities_answer_the_same(
        runtime: Runtime, population: Population,
        clients: tuple[AppClient, AppClient]) -> None:
    assert same_answer(clients, method="PUT", json={}).status_code == 405
    demo = dataclasses.replace(runtime.settings, demo_mode=True)

    def app() -> Any:
        return create_app(runtime, identity_source=DemoHeaderIdentity(
            settings=demo, engine=runtime.engine))

    with AppClient(app()) as served, AppClient(without_fast_route(app())) as documented:
        pair = (served, documented)
        # Malformed JSON is refused before the identity is asked for; bad fields after.
        assert same_answer(pair, content=b"{", headers={
            "content-type": "application/json"}).status_code == 422
        assert same_answer(pair, json={"nir": "x"}).status_code == 401
        assert same_answer(pair, json=population.alice.payload()).status_code == 401


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.dates().map(lambda d: d.isoformat()))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(
    ["nir", "birth_date", "birth_rank", "amc_number", "member_number", "category",
     "care_date", "other"]), _VALUES, max_size=3))
def test_answers_are_the_same_for_generated_bodies(
        clients: tuple[AppClient, AppClient], population: Population,
        changes: dict[str, Any]) -> None:
    body = population.alice.payload()
    body.update(changes)
    same_answer(clients, json=body)
