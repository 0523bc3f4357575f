"""HTTP plumbing that never touches the database: request ids, unknown routes and
methods, the body cap. Run on SQLite only, since the backend plays no part."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from audit_disclosures import count_disclosures
from checks_support import AppClient, Population, build_population, make_app
from rempart.coverage.models import Check
from rempart.runtime import Runtime
from rempart.web.problems import ErrorBody


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as test_client:
        yield test_client


def test_unknown_routes_and_methods_answer_json(client: AppClient) -> None:
    missing = client.get("/api/v1/nowhere")
    assert missing.status_code == 404
    assert ErrorBody.model_validate(missing.json()).error.code == "not_found"
    wrong = client.request("DELETE", "/api/v1/checks")
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]
    assert ErrorBody.model_validate(wrong.json()).error.code == "method_not_allowed"


def test_request_ids(client: AppClient) -> None:
    fresh = client.get("/api/v1/claims")
    assert len(fresh.headers["x-request-id"]) == 24
    kept = client.get("/api/v1/claims", headers={"x-request-id": "practice-42.abc"})
    assert kept.headers["x-request-id"] == "practice-42.abc"
    junk = client.get("/api/v1/nowhere", headers={"x-request-id": "a b<script>"})
    assert junk.headers["x-request-id"] != "a b<script>"
    assert junk.json()["request_id"] == junk.headers["x-request-id"]


def small_cap_app(runtime: Runtime, population: Population, cap: int) -> Any:
    capped = dataclasses.replace(runtime, settings=dataclasses.replace(
        runtime.settings, max_body_bytes=cap))
    return make_app(capped, population)


def test_oversized_bodies_are_413_json(runtime: Runtime, population: Population) -> None:
    with AppClient(small_cap_app(runtime, population, 1024)) as client:
        payload = population.alice.payload(member_number="M" * 2000)
        declared = client.post("/api/v1/checks", json=payload)
        assert declared.status_code == 413
        assert ErrorBody.model_validate(declared.json()).error.code == "body_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 512

        streamed = client.post("/api/v1/checks", content=chunks(),
                               headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert ErrorBody.model_validate(streamed.json()).error.code == "body_too_large"
        fhir = client.post("/fhir/r4/CoverageEligibilityRequest/$submit",
                           content=b" " * 2048, headers={"content-type": "application/json"})
        assert fhir.status_code == 413
        assert fhir.json()["resourceType"] == "OperationOutcome"
        assert client.post("/api/v1/checks", json=population.alice.payload()).status_code == 201
    assert _rows(runtime) == (1, 1)


def test_the_cap_stops_reading_a_stream_early(runtime: Runtime,
                                              population: Population) -> None:
    """An endless chunked body is refused after about cap bytes, never read whole."""
    app = small_cap_app(runtime, population, 4096)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > 1000:
            raise AssertionError("the body was read far past the cap")
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/v1/checks", "raw_path": b"",
             "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1234),
             "headers": [(b"content-type", b"application/json"), (b"host", b"rempart")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled <= 6


def _rows(runtime: Runtime) -> tuple[int, int]:
    with runtime.engine.connect() as conn:
        checks = conn.execute(select(func.count()).select_from(Check)).scalar_one()
    return checks, count_disclosures(runtime.engine)
