"""The check as HL7 FHIR R4, under /fhir/r4/.

`POST /fhir/r4/CoverageEligibilityRequest/$submit` takes a CoverageEligibilityRequest and
answers a CoverageEligibilityResponse; errors are OperationOutcome resources. Why an
operation and not the RESTful `create`: see docs/api.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from rempart.coverage import fhir
from rempart.coverage.errors import InvalidRequest
from rempart.web.dependencies import Checks, CurrentProvider, json_answer
from rempart.web.problems import FHIR_MEDIA_TYPE

_OUTCOME: dict[str, Any] = {
    "description": "An OperationOutcome naming the offending elements.",
    "content": {FHIR_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
}

router = APIRouter(prefix="/fhir/r4", tags=["fhir"])


@router.post(
    "/CoverageEligibilityRequest/$submit",
    summary="Check coverage with a FHIR CoverageEligibilityRequest",
    response_class=Response,
    responses={
        200: {"description": "A CoverageEligibilityResponse.", "content": {FHIR_MEDIA_TYPE: {
            "schema": {"$ref": "#/components/schemas/CoverageEligibilityResponse"}}}},
        401: _OUTCOME, 413: _OUTCOME, 422: _OUTCOME,
    },
)
async def submit(body: fhir.EligibilityRequest, provider: CurrentProvider,
                 checks: Checks) -> Response:
    try:
        presented = fhir.to_check_request(body)
        answer = await checks.check_async(requester=provider, request=presented)
    except InvalidRequest as exc:
        raise fhir.as_fhir_errors(exc) from None
    return json_answer(fhir.to_response(answer, body), media_type=FHIR_MEDIA_TYPE)


@router.get("/metadata", summary="The CapabilityStatement", response_class=Response,
            responses={200: {"description": "The CapabilityStatement.",
                             "content": {FHIR_MEDIA_TYPE: {"schema": {"type": "object"}}}}})
async def metadata(request: Request) -> Response:
    now = request.app.state.clock.now()
    return json_answer(fhir.capability_statement(now=now), media_type=FHIR_MEDIA_TYPE)
