"""The JSON API of checks and claims, under /api/v1/.

Each route reads top to bottom: who asks, what they send, the service's answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from rempart.core.calculation import Bill
from rempart.coverage.claim_schemas import ClaimIn, ClaimOut, ClaimPageOut
from rempart.coverage.claims import ClaimSubmission
from rempart.coverage.query import CheckRequest
from rempart.coverage.references import REFERENCE_PATTERN
from rempart.coverage.schemas import (
    CalculationIn,
    CalculationOut,
    CheckIn,
    CheckOut,
    CheckPageOut,
)
from rempart.web.dependencies import Checks, Claims, CurrentProvider, json_answer, run_blocking
from rempart.web.problems import ErrorBody

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No acceptable identity."},
    413: {"model": ErrorBody, "description": "The body is over the size cap."},
    422: {"model": ErrorBody, "description": "Malformed request: fields named, values never "
                                             "echoed."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown reference, or another organisation's: "
                                             "the two answers are identical."},
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page.")]
After = Annotated[str | None, Query(pattern=REFERENCE_PATTERN,
                                    description="The next_cursor of the previous page.")]
ReferencePath = Annotated[str, Path(pattern=REFERENCE_PATTERN)]


@router.post("/checks", tags=["checks"], status_code=201, response_model=CheckOut,
             summary="Check a patient's coverage for a care category on a date")
async def create_check(body: CheckIn, provider: CurrentProvider, checks: Checks) -> Response:
    presented = CheckRequest(
        nir=body.nir, birth_date=body.birth_date, birth_rank=body.birth_rank,
        amc_number=body.amc_number, member_number=body.member_number,
        category=body.category.value, care_date=body.care_date)
    answer = await checks.check_async(requester=provider, request=presented)
    return json_answer(answer, status=201)


@router.get("/checks", tags=["checks"], response_model=CheckPageOut,
            summary="The organisation's own checks, newest first")
async def list_checks(provider: CurrentProvider, checks: Checks, request: Request,
                      limit: PageSize = 20, after: After = None) -> Response:
    page = await run_blocking(request, checks.list_checks, requester=provider, limit=limit,
                              after=after)
    return json_answer(page)


@router.post("/checks/{reference}/calculation", tags=["checks"], response_model=CalculationOut,
             responses=_NOT_FOUND,
             summary="Split a bill between AMO, AMC and patient under a check's guarantee")
async def calculate(reference: ReferencePath, body: CalculationIn, provider: CurrentProvider,
                    checks: Checks, request: Request) -> Response:
    bill = Bill(billed_cents=body.billed_cents, base_tariff_cents=body.base_tariff_cents,
                amo_rate_bp=body.amo_rate_bp)
    answer = await run_blocking(request, checks.calculate, requester=provider,
                                reference=reference, bill=bill)
    return json_answer(answer)


@router.post("/claims", tags=["claims"], status_code=201, response_model=ClaimOut,
             responses=_NOT_FOUND, summary="Submit a claim quoting a check reference")
async def submit_claim(body: ClaimIn, provider: CurrentProvider, claims: Claims,
                       request: Request) -> Response:
    submission = ClaimSubmission(
        check_reference=body.check_reference, category=body.category.value,
        care_date=body.care_date, billed_cents=body.billed_cents,
        base_tariff_cents=body.base_tariff_cents, amo_rate_bp=body.amo_rate_bp,
        amc_cents=body.amc_cents)
    view = await run_blocking(request, claims.submit, requester=provider, submission=submission)
    return json_answer(view, status=201)


@router.get("/claims", tags=["claims"], response_model=ClaimPageOut,
            summary="The organisation's own claims, newest first")
async def list_claims(provider: CurrentProvider, claims: Claims, request: Request,
                      limit: PageSize = 20, after: After = None) -> Response:
    page = await run_blocking(request, claims.list_claims, requester=provider, limit=limit,
                              after=after)
    return json_answer(page)


@router.get("/claims/{reference}", tags=["claims"], response_model=ClaimOut,
            responses=_NOT_FOUND, summary="One of the organisation's own claims")
async def get_claim(reference: ReferencePath, provider: CurrentProvider, claims: Claims,
                    request: Request) -> Response:
    view = await run_blocking(request, claims.get, requester=provider, reference=reference)
    return json_answer(view)
