"""The JSON API against its own OpenAPI document, with schemathesis (in-process ASGI).

Every operation is called with generated valid and invalid input: no server error, every
answer conforms to the documented status codes, content types, headers and schemas, and
invalid input is refused. Bounded by max_examples so the run stays well under a minute.
(Schemathesis's pytest plugin does not run under pytest 9, so the operations' hypothesis
strategies are driven here directly.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from checks_support import build_population, make_app
from rempart.runtime import Runtime

EXAMPLES = 10


@pytest.fixture
def backend() -> str:
    """SQLite only: no submitted text reaches the database in clear (only blind indexes,
    ids and validated references), so the schema's behaviour does not depend on it, and
    schemathesis's per-call cost is better spent on more examples than on a second run."""
    return "sqlite"


def test_api_conforms_to_its_openapi_document(runtime: Runtime) -> None:
    population = build_population(runtime)
    app = make_app(runtime, population)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    calls: list[tuple[str, int]] = []
    for operation in operations:
        _exercise(operation, GenerationMode.POSITIVE, calls)
        if _takes_input(operation):  # invalid input needs an input to spoil
            _exercise(operation, GenerationMode.NEGATIVE, calls)
    # Generated NIRs almost never carry valid check digits: real people, found or not,
    # reach the answers that only a valid check gets.
    check = schema["/api/v1/checks"]["POST"]
    for person in (population.alice, population.bob, population.stranger):
        for category in ("optical", "hospital"):
            _exercise(check, GenerationMode.POSITIVE, calls, examples=1,
                      body=person.payload(category))
    statuses = {status for _, status in calls}
    print(f"schemathesis: {len(calls)} calls over {len(operations)} operations, "
          f"statuses {sorted(statuses)}")
    assert not [call for call in calls if call[1] >= 500]
    assert {200, 201, 404, 422} <= statuses  # the run reached real answers, not only errors


def _takes_input(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def _exercise(operation: Any, mode: GenerationMode, calls: list[tuple[str, int]],
              examples: int = EXAMPLES, **fixed: Any) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        # Schema-valid input may still be refused by rules that a schema cannot state
        # (a NIR's check digits, a date of care within two years, a reference that
        # exists): those are documented 4xx answers, checked for conformance like all.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        calls.append((operation.label, response.status_code))

    run()
