"""Error answers: one JSON shape for the API, OperationOutcome for FHIR.

Neither ever carries a submitted value: errors name fields (or FHIRPath expressions)
and give a fixed reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

FHIR_PREFIX = "/fhir/"
FHIR_MEDIA_TYPE = "application/fhir+json"
JSON_MEDIA_TYPE = "application/json"


class FieldProblem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    reason: str


class StepUpCode(BaseModel):
    """In a 401 `step_up_required` to an API client: the code a person of its
    organisation confirms on the portal, with a fresh second factor (RFC 8628's names)."""

    model_config = ConfigDict(extra="forbid")

    user_code: str
    verification_uri: str
    expires_in: int


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    fields: list[FieldProblem] = []
    step_up: StepUpCode | None = None


class ErrorBody(BaseModel):
    """Every error of the JSON API has this shape."""

    model_config = ConfigDict(extra="forbid")

    error: Problem
    request_id: str | None


# FHIR OperationOutcome issue codes for our error codes.
_FHIR_CODES = {
    "invalid_request": "invalid",
    "malformed_json": "structure",
    "not_found": "not-found",
    "not_authenticated": "login",
    "body_too_large": "too-long",
    "method_not_allowed": "not-supported",
    "unsupported_media_type": "not-supported",
    "conflict": "conflict",
    "server_error": "exception",
    "database_unavailable": "transient",
    "guard_unavailable": "transient",
    "auth_unavailable": "transient",
}


def is_fhir_path(path: str) -> bool:
    return path.startswith(FHIR_PREFIX)


def error_response(*, status: int, code: str, message: str, request_id: str | None,
                   fields: list[tuple[str, str]] | None = None, fhir: bool = False,
                   headers: dict[str, str] | None = None,
                   step_up: dict[str, Any] | None = None) -> Response:
    if fhir:
        return Response(operation_outcome(code=code, message=message, fields=fields or [],
                                          step_up=step_up),
                        status_code=status, media_type=FHIR_MEDIA_TYPE, headers=headers)
    error: dict[str, Any] = {"code": code, "message": message,
                             "fields": [{"field": f, "reason": r} for f, r in fields or []]}
    if step_up is not None:
        error["step_up"] = step_up
    body: dict[str, Any] = {"error": error, "request_id": request_id}
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_MEDIA_TYPE,
                    headers=headers)


def operation_outcome(*, code: str, message: str, fields: list[tuple[str, str]],
                      step_up: dict[str, Any] | None = None) -> bytes:
    issue_code = _FHIR_CODES.get(code, "processing")
    if fields:
        issues = [{"severity": "error", "code": issue_code, "diagnostics": reason,
                   "expression": [expression]} for expression, reason in fields]
    else:
        issues = [{"severity": "error", "code": issue_code, "diagnostics": message}]
    if step_up is not None:  # FHIR has no field for it: a second issue says it in words
        issues.append({"severity": "information", "code": "informational", "diagnostics": (
            f"user_code={step_up['user_code']} verification_uri={step_up['verification_uri']} "
            f"expires_in={step_up['expires_in']}")})
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": issues})
