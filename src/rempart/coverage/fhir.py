"""HL7 FHIR R4 mapping of the check: CoverageEligibilityRequest in, Response out.

The request carries the patient and the coverage as contained resources (see
docs/api.md): the NIR as a Patient identifier (system INS-NIR), the date of birth as
Patient.birthDate, the birth rank as Patient.multipleBirthInteger (absent means 1), the
AMC number as CoverageEligibilityRequest.insurer.identifier, the member number as a
Coverage identifier of type MB, the care category as item.category and the date of care
as servicedDate. The response says exactly what the JSON answer says: no patient or
insurer detail, only displays that name nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from rempart.coverage.answers import CheckAnswer
from rempart.coverage.errors import FieldError, InvalidRequest
from rempart.coverage.query import CheckRequest
from rempart.coverage.schemas import IsoDate

BASE = "https://fhir.rempart.example"
NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"  # INS-NIR
AMC_SYSTEM = f"{BASE}/NamingSystem/amc-number"
MEMBER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
MEMBER_TYPE_CODE = "MB"
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/care-category"
BENEFIT_SYSTEM = f"{BASE}/CodeSystem/benefit"
CHECK_REFERENCE_SYSTEM = f"{BASE}/NamingSystem/check-reference"
THIRD_PARTY_URL = f"{BASE}/StructureDefinition/third-party-payment"
SUBMIT_OPERATION = f"{BASE}/OperationDefinition/CoverageEligibilityRequest-submit"

# Where each field of a check lives in the request, for OperationOutcome expressions.
FIELD_EXPRESSIONS = {
    "nir": "Patient.identifier",
    "birth_date": "Patient.birthDate",
    "birth_rank": "Patient.multipleBirthInteger",
    "amc_number": "CoverageEligibilityRequest.insurer.identifier",
    "member_number": "Coverage.identifier",
    "category": "CoverageEligibilityRequest.item.category",
    "care_date": "CoverageEligibilityRequest.servicedDate",
}


class _Element(BaseModel):
    # FHIR resources carry many optional elements; those not read here are ignored.
    model_config = ConfigDict(extra="ignore")


class Coding(_Element):
    system: StrictStr | None = None
    code: StrictStr | None = None


class CodeableConcept(_Element):
    coding: list[Coding] = []


class Identifier(_Element):
    system: StrictStr | None = None
    value: StrictStr | None = None
    type: CodeableConcept | None = None


class Reference(_Element):
    reference: StrictStr | None = None
    identifier: Identifier | None = None


class ContainedPatient(_Element):
    resource_type: ClassVar[str] = "Patient"
    resourceType: Literal["Patient"]
    id: StrictStr = Field(min_length=1, max_length=64)
    identifier: list[Identifier] = []
    birthDate: IsoDate | None = None
    multipleBirthInteger: StrictInt | None = None
    multipleBirthBoolean: StrictBool | None = None


class ContainedCoverage(_Element):
    resource_type: ClassVar[str] = "Coverage"
    resourceType: Literal["Coverage"]
    id: StrictStr = Field(min_length=1, max_length=64)
    identifier: list[Identifier] = []


class Insurance(_Element):
    coverage: Reference


class Item(_Element):
    category: CodeableConcept | None = None


Contained = Annotated[ContainedPatient | ContainedCoverage, Field(discriminator="resourceType")]


class EligibilityRequest(_Element):
    """The elements of a CoverageEligibilityRequest that rempart reads."""

    resourceType: Literal["CoverageEligibilityRequest"]
    status: Literal["active"]
    purpose: list[Literal["auth-requirements", "benefits", "discovery", "validation"]] = (
        Field(min_length=1))
    patient: Reference
    created: StrictStr
    insurer: Reference
    servicedDate: IsoDate | None = None
    contained: list[Contained] = Field(default=[], max_length=10)
    insurance: list[Insurance] = Field(default=[], max_length=10)
    item: list[Item] = Field(default=[], max_length=10)


def to_check_request(resource: EligibilityRequest) -> CheckRequest:
    """The check that a CoverageEligibilityRequest asks for, or InvalidRequest."""
    errors: list[FieldError] = []
    patient = _contained(resource, resource.patient, ContainedPatient,
                         "CoverageEligibilityRequest.patient", errors)
    coverage = None
    if len(resource.insurance) != 1:
        errors.append(FieldError("CoverageEligibilityRequest.insurance",
                                 "exactly one insurance is expected"))
    else:
        coverage = _contained(resource, resource.insurance[0].coverage, ContainedCoverage,
                              "CoverageEligibilityRequest.insurance.coverage", errors)
    nir = _identifier(patient.identifier if patient else [], NIR_SYSTEM)
    if patient and nir is None:
        errors.append(FieldError("Patient.identifier", f"an identifier of system {NIR_SYSTEM} "
                                                       "is required"))
    if patient and patient.birthDate is None:
        errors.append(FieldError("Patient.birthDate", "is required"))
    insurer_id = resource.insurer.identifier
    amc = insurer_id.value if insurer_id and insurer_id.system == AMC_SYSTEM else None
    if amc is None:
        errors.append(FieldError("CoverageEligibilityRequest.insurer.identifier",
                                 f"an identifier of system {AMC_SYSTEM} is required"))
    member = _member_number(coverage.identifier) if coverage else None
    if coverage and member is None:
        errors.append(FieldError("Coverage.identifier", "an identifier of type MB "
                                                        "(member number) is required"))
    category = _category(resource.item, errors)
    if resource.servicedDate is None:
        errors.append(FieldError("CoverageEligibilityRequest.servicedDate", "is required"))
    if (errors or patient is None or patient.birthDate is None or nir is None or amc is None
            or member is None or category is None or resource.servicedDate is None):
        raise InvalidRequest(errors)
    return CheckRequest(nir=nir, birth_date=patient.birthDate, birth_rank=_rank(patient),
                        amc_number=amc, member_number=member, category=category,
                        care_date=resource.servicedDate)


def as_fhir_errors(exc: InvalidRequest) -> InvalidRequest:
    """The same errors, with check fields named by their place in the FHIR request."""
    return InvalidRequest([FieldError(FIELD_EXPRESSIONS.get(e.field, e.field), e.reason)
                           for e in exc.errors])


def to_response(answer: CheckAnswer, resource: EligibilityRequest) -> dict[str, Any]:
    """A CoverageEligibilityResponse saying what the JSON answer says, nothing more."""
    item: dict[str, Any] = {"category": {"coding": [
        {"system": CATEGORY_SYSTEM, "code": answer.category.value}]}}
    benefits = _benefits(answer)
    if benefits:
        item["benefit"] = benefits
    return {
        "resourceType": "CoverageEligibilityResponse",
        "id": answer.reference,
        "identifier": [{"system": CHECK_REFERENCE_SYSTEM, "value": answer.reference}],
        "status": "active",
        "purpose": sorted(set(resource.purpose)),
        "patient": {"display": "the patient identified in the request"},
        "servicedDate": answer.care_date.isoformat(),
        "created": _instant(answer.checked_at),
        "request": {"display": "the CoverageEligibilityRequest of this check"},
        "outcome": "complete",
        "disposition": "covered" if answer.covered else "not covered",
        "insurer": {"display": "the insurer identified in the request"},
        "insurance": [{
            "extension": [{"url": THIRD_PARTY_URL,
                           "valueBoolean": answer.third_party_payment}],
            "coverage": {"display": "the coverage presented in the request"},
            "inforce": answer.covered,
            "item": [item],
        }],
    }


def capability_statement(*, now: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "rempart"},
        "implementation": {"description": "rempart coverage checks"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "resource": [{
                "type": "CoverageEligibilityRequest",
                "operation": [{"name": "submit", "definition": SUBMIT_OPERATION}],
            }],
        }],
    }


def _contained(resource: EligibilityRequest, ref: Reference, kind: type[Any], where: str,
               errors: list[FieldError]) -> Any:
    target = ref.reference[1:] if ref.reference and ref.reference.startswith("#") else None
    for candidate in resource.contained:
        if isinstance(candidate, kind) and candidate.id == target:
            return candidate
    errors.append(FieldError(where, f"must reference a contained {kind.resource_type}"))
    return None


def _identifier(identifiers: list[Identifier], system: str) -> str | None:
    return next((i.value for i in identifiers if i.system == system and i.value), None)


def _member_number(identifiers: list[Identifier]) -> str | None:
    for identifier in identifiers:
        codings = identifier.type.coding if identifier.type else []
        if identifier.value and any(c.system == MEMBER_TYPE_SYSTEM and c.code == MEMBER_TYPE_CODE
                                    for c in codings):
            return identifier.value
    return None


def _category(items: list[Item], errors: list[FieldError]) -> str | None:
    codes = [c.code for item in items for c in (item.category.coding if item.category else [])
             if c.system == CATEGORY_SYSTEM and c.code]
    if len(items) != 1 or len(codes) != 1:
        errors.append(FieldError("CoverageEligibilityRequest.item",
                                 f"exactly one item with a category of system {CATEGORY_SYSTEM} "
                                 "is expected"))
        return None
    return codes[0]


def _rank(patient: ContainedPatient) -> int:
    return 1 if patient.multipleBirthInteger is None else patient.multipleBirthInteger


def _benefits(answer: CheckAnswer) -> list[dict[str, Any]]:
    guarantee = answer.guarantee
    if not answer.covered or guarantee is None:
        return []
    benefits = [_benefit(guarantee.kind.value, rate=guarantee.rate_bp,
                         cents=guarantee.amount_cents)]
    if guarantee.allowance_period_months is not None:
        benefits.append(_benefit("allowance-period-months",
                                 rate=guarantee.allowance_period_months))
    if guarantee.allowance_remaining_cents is not None:
        benefits.append(_benefit("allowance-remaining",
                                 cents=guarantee.allowance_remaining_cents))
    return benefits


def _benefit(code: str, *, rate: int | None = None, cents: int | None = None) -> dict[str, Any]:
    benefit: dict[str, Any] = {"type": {"coding": [{"system": BENEFIT_SYSTEM, "code": code}]}}
    if rate is not None:
        benefit["allowedUnsignedInt"] = rate
    elif cents is not None:
        # cents / 100 as a float prints as the shortest exact decimal (12345 -> 123.45).
        benefit["allowedMoney"] = {"value": cents / 100, "currency": "EUR"}
    return benefit


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
