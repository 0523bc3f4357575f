"""The OpenAPI document: FastAPI's, plus the FHIR resources that the FHIR routes answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_STRING = {"type": "string"}
_OBJECT = {"type": "object"}

FHIR_SCHEMAS: dict[str, Any] = {
    "OperationOutcome": {
        "type": "object",
        "description": "FHIR R4 OperationOutcome (only the elements rempart emits).",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["severity", "code"],
                "properties": {"severity": _STRING, "code": _STRING, "diagnostics": _STRING,
                               "expression": {"type": "array", "items": _STRING}},
            }},
        },
    },
    "CoverageEligibilityResponse": {
        "type": "object",
        "description": "FHIR R4 CoverageEligibilityResponse (only the elements rempart emits).",
        "required": ["resourceType", "id", "identifier", "status", "purpose", "patient",
                     "created", "request", "outcome", "insurer", "insurance"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["CoverageEligibilityResponse"]},
            "id": _STRING, "identifier": {"type": "array", "items": _OBJECT},
            "status": _STRING, "purpose": {"type": "array", "items": _STRING},
            "patient": _OBJECT, "servicedDate": _STRING, "created": _STRING,
            "request": _OBJECT, "outcome": _STRING, "disposition": _STRING,
            "insurer": _OBJECT, "insurance": {"type": "array", "items": _OBJECT},
        },
    },
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(FHIR_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
