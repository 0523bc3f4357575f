"""The member history over the JSON API, under /api/v1/me/.

The insurer's signed link is the bearer token (`Authorization: Bearer <link>`), good for
one call: the same token that opens the page. Every refusal is the same 401, whatever
was wrong with the link.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rempart.coverage.references import REFERENCE_PATTERN
from rempart.member.errors import InvalidMemberLink, UnknownCheck
from rempart.member.history import HistoryPage
from rempart.member.service import MemberArea
from rempart.member.throttle import (
    UNAVAILABLE_RETRY_S,
    MemberLimitUnavailable,
    MemberThrottled,
)
from rempart.web.dependencies import json_answer, run_blocking
from rempart.web.identity import client_address
from rempart.web.problems import ErrorBody, error_response
from rempart.web.request_id import request_id_of

MAX_AUTHORIZATION = 2100


class HistoryItemOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["check", "claim"]
    reference: str
    at: dt.datetime
    organisation: str = Field(description="The provider organisation's name.")
    profession: str
    category: str = Field(description="The care category checked or billed.")
    outcome: Literal["covered", "not_covered", "received", "accepted", "rejected", "paid"]
    reported: bool = Field(description="A check the person has already reported.")


class HistoryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[HistoryItemOut]
    truncated: bool = Field(description="Older items exist beyond the newest listed.")


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(pattern=REFERENCE_PATTERN, description="The check's reference.")


class ReportOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["reported", "already_reported"]


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid member link (forged, expired, "
                                             "already used or unknown): one answer for all."},
    422: {"model": ErrorBody, "description": "Malformed request."},
    429: {"model": ErrorBody, "description": "Too many links from this address or for this "
                                             "member: wait Retry-After seconds."},
    503: {"model": ErrorBody, "description": "The rate limits cannot be counted: refused."},
}

router = APIRouter(prefix="/api/v1/me", tags=["member"], responses=_ERRORS)
_BEARER = HTTPBearer(auto_error=False, scheme_name="MemberLink",
                     description="`Bearer <member link>`: the link the insurer signed, good "
                                 "for one call.")
Authorization = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


@router.get("/history", response_model=HistoryOut,
            summary="Every check and claim that concerned the person the link names")
async def history(request: Request, authorization: Authorization = None) -> Response:
    area: MemberArea = request.app.state.member_area
    try:
        page = await run_blocking(request, area.history_by_token, token=_bearer(authorization),
                                  client_address=client_address(request))
    except InvalidMemberLink:
        return _refused(request)
    except (MemberThrottled, MemberLimitUnavailable) as exc:
        return _busy(request, exc)
    return json_answer(_history_out(page))


@router.post("/reports", status_code=201, response_model=ReportOut,
             responses={404: {"model": ErrorBody, "description": "Not one of the person's "
                                                                 "own checks."}},
             summary="Report a check the person does not recognise (raises an alert)")
async def report(body: ReportIn, request: Request,
                 authorization: Authorization = None) -> Response:
    area: MemberArea = request.app.state.member_area
    try:
        done = await run_blocking(request, area.report_by_token, token=_bearer(authorization),
                                  reference=body.reference,
                                  client_address=client_address(request))
    except InvalidMemberLink:
        return _refused(request)
    except (MemberThrottled, MemberLimitUnavailable) as exc:
        return _busy(request, exc)
    except UnknownCheck:
        return error_response(status=404, code="not_found", message="no such check",
                              request_id=request_id_of(request.scope))
    return json_answer({"status": "reported" if done else "already_reported"}, status=201)


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or len(credentials.credentials) > MAX_AUTHORIZATION:
        return ""
    return credentials.credentials.strip()


def _refused(request: Request) -> Response:
    return error_response(status=401, code="not_authenticated",
                          message="the member link is not valid, has expired or was used",
                          request_id=request_id_of(request.scope),
                          headers={"WWW-Authenticate": 'Bearer realm="rempart-member"'})


def _busy(request: Request, exc: MemberThrottled | MemberLimitUnavailable) -> Response:
    if isinstance(exc, MemberThrottled):
        return error_response(status=429, code="rate_limited", message=str(exc),
                              request_id=request_id_of(request.scope),
                              headers={"Retry-After": str(exc.retry_after)})
    return error_response(status=503, code="unavailable",
                          message="the member history is unavailable for a moment",
                          request_id=request_id_of(request.scope),
                          headers={"Retry-After": str(UNAVAILABLE_RETRY_S)})


def _history_out(page: HistoryPage) -> dict[str, Any]:
    return {"items": [{"kind": item.kind.value, "reference": item.reference, "at": item.at,
                       "organisation": item.organisation, "profession": item.profession,
                       "category": item.category, "outcome": item.outcome,
                       "reported": item.reported} for item in page.items],
            "truncated": page.truncated}
