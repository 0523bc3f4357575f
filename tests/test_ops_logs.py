"""Structured logs: JSON lines, each made during a request carrying its request id, and
no personal data in any of them, for checks that succeed, fail or are refused."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from checks_support import AppClient, Population, build_population, make_app
from ops_support import personal_values
from rempart.observability.logs import configure_logging, reset_logging
from rempart.runtime import Runtime
from rempart.web.request_id import request_id_for


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client's own lines
    try:
        yield stream
    finally:
        reset_logging()
        logging.getLogger("httpx").setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_check_traffic_logs_json_with_request_ids_and_nothing_personal(
        captured: io.StringIO, runtime: Runtime) -> None:
    population: Population = build_population(runtime)
    sent = []
    with AppClient(make_app(runtime, population)) as client:
        for person in (population.alice, population.stranger, population.bob):
            sent.append(client.post("/api/v1/checks", json=person.payload()))
        alice = population.alice
        sent.append(client.post("/api/v1/checks", json=alice.payload(birth_date="1985-13-45")))
        sent.append(client.post("/api/v1/checks", json={**alice.payload(), "name": "Zorglubova"}))
        sent.append(client.post("/api/v1/checks", content=f'{{"nir": "{alice.nir}"',
                                headers={"content-type": "application/json"}))
        sent.append(client.get(f"/api/v1/claims/{alice.nir}"))
        sent.append(client.get(f"/api/v1/nowhere/{alice.nir}/{alice.birth_date}"))
    assert [r.status_code for r in sent] == [201, 201, 201, 422, 422, 422, 422, 404]
    logged = lines(captured)
    refused = [line for line in logged if line["event"] == "request refused"]
    assert len(refused) == 5  # every refusal is logged, once
    in_requests = {r.headers["x-request-id"] for r in sent}
    assert {line["route"] for line in refused} == {
        "/api/v1/checks", "/api/v1/claims/{reference}", "unmatched"}
    for line in refused:
        assert line["request_id"] in in_requests
        assert line["level"] == "info"
        assert "timestamp" in line
    output = captured.getvalue()
    for value in personal_values(population):
        assert value not in output, value


def test_standard_library_records_are_json_lines_too(captured: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(request_id="abcdef123456"):
        logging.getLogger("uvicorn.error").warning("worker %s ready", 3)
    [line] = lines(captured)
    assert line == {**line, "event": "worker 3 ready", "request_id": "abcdef123456",
                    "level": "warning", "logger": "uvicorn.error"}


def test_nir_shaped_values_are_scrubbed_as_a_last_defence(captured: io.StringIO) -> None:
    log = structlog.get_logger("rempart.test")
    log.info("oops", detail="about 285057511104242 here", corsica="185052A12345612",
             short="2850575111042", siret="73282932000074", count="12")
    [line] = lines(captured)
    assert line["detail"] == "about [redacted] here"
    assert line["corsica"] == line["short"] == "[redacted]"
    assert (line["siret"], line["count"]) == ("73282932000074", "12")  # not NIR-shaped


def test_request_ids_drawn_by_the_app_are_never_taken_for_a_nir(
        captured: io.StringIO) -> None:
    # A random hex id begins with a NIR-shaped run of digits about once in 10,000: the
    # scrubber would redact it, and the log line would lose its request id.
    drawn = [request_id_for({"headers": []}) for _ in range(50_000)]
    log = structlog.get_logger("rempart.test")
    for request_id in drawn:
        log.info("seen", request_id=request_id)
    assert [line["request_id"] for line in lines(captured)] == drawn
