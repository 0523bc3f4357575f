"""The provider's pages: the check form and its answer, the claim form, the history.

The check answer shows exactly what the API answers (covered, guarantee, third-party
payment, reference) and nothing else. A refused check names the fields to correct and
never puts the typed identifiers back on the page. A claim quotes a check: its form
comes pre-filled from the check's answer or from the history, and the amount asked
of the complementary insurer is the one the calculation gives.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.errors import SecondFactorRequired, SessionInvalid
from rempart.core.calculation import Bill
from rempart.core.care import CareCategory
from rempart.coverage.claims import ClaimSubmission
from rempart.coverage.errors import InvalidRequest, UnknownReference
from rempart.coverage.query import CheckRequest
from rempart.coverage.references import is_reference
from rempart.guard.decision import Action
from rempart.guard.errors import CheckWithheld
from rempart.portal.access import (
    CSRF_FIELD,
    PortalUser,
    Provider,
    SignedIn,
    portal_of,
    provider,
    require_csrf,
)
from rempart.portal.errors import error_page
from rempart.portal.fields import (
    FieldProblem,
    basis_points_field,
    cents_field,
    date_field,
    int_field,
)
from rempart.portal.i18n import Translator, language_of
from rempart.web.forms import RawForm, parse_form, raw_form

router = APIRouter(prefix="/portal", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]

CHECK_FIELDS = {"nir": 32, "birth_date": 10, "birth_rank": 2, "amc_number": 16,
                "member_number": 40, "category": 32, "care_date": 10, CSRF_FIELD: 128}
CLAIM_FIELDS = {"check_reference": 26, "category": 32, "care_date": 10, "billed": 16,
                "base_tariff": 16, "amo_rate": 8, CSRF_FIELD: 128}
PAGE_SIZE = 20
DEFAULT_CATEGORY = {"pharmacy": "pharmacy", "pharmacist": "pharmacy", "optician": "optical",
                    "dentist": "dental", "physiotherapist": "physiotherapy",
                    "hearing_aid": "hearing", "hospital": "hospital",
                    "physician": "consultation", "nurse": "nursing",
                    "laboratory": "laboratory"}


def _page(request: Request, user: PortalUser, template: str, *, status: int = 200,
          **context: Any) -> Response:
    return portal_of(request).templates.page(request, template, status=status,
                                             account=user.account, csrf=user.csrf, **context)


# -- the check ---------------------------------------------------------------------------


def _check_page(request: Request, user: PortalUser, *, status: int = 200,
                errors: dict[str, str] | None = None, category: str | None = None,
                care_date: str | None = None, answer: Any = None) -> Response:
    today = portal_of(request).clock.now().date()
    profession = user.identity.profession if user.identity else None
    return _page(request, user, "check.html", status=status, section="check",
                 categories=[c.value for c in CareCategory], errors=errors or {},
                 category=category or DEFAULT_CATEGORY.get(profession or "", "pharmacy"),
                 care_date=care_date or today.isoformat(), today=today.isoformat(),
                 answer=answer)


@router.get("/check")
def check_page(request: Request, user: SignedIn) -> Response:
    if user.actor.role.is_operator:
        # The portal's landing page after a login; an operator's is the security console.
        return RedirectResponse("/portal/console", 303)
    return _check_page(request, provider(user))


@router.post("/check")
def check(request: Request, raw: Form, user: Provider) -> Response:
    form = parse_form(raw, limits=CHECK_FIELDS)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    t = Translator(language_of(request))
    category = form.get("category", "")
    kept = {"category": category if category in CareCategory.__members__.values() else None,
            "care_date": form.get("care_date")}
    problems: list[str] = []
    parsed: dict[str, Any] = {}
    for name, parse in (("birth_date", lambda: date_field(form, "birth_date")),
                        ("care_date", lambda: date_field(form, "care_date")),
                        ("birth_rank", lambda: int_field(form, "birth_rank", low=1, high=9))):
        try:
            parsed[name] = parse()
        except FieldProblem:
            problems.append(name)
    if problems:
        return _check_page(request, user, status=422, **kept,
                           errors={name: t(f"check.error.{name}") for name in problems})
    presented = CheckRequest(
        nir=form.get("nir", ""), birth_date=parsed["birth_date"],
        birth_rank=parsed["birth_rank"], amc_number=form.get("amc_number", ""),
        member_number=form.get("member_number", ""), category=category,
        care_date=parsed["care_date"])
    try:
        answer = portal_of(request).checks.check(requester=user.requester, request=presented)
    except InvalidRequest as exc:
        return _check_page(request, user, status=422, **kept, errors={
            e.field: t(f"check.error.{e.field}") for e in exc.errors})
    except CheckWithheld as exc:
        return _withheld(request, exc)
    return _check_page(request, user, answer=answer, category=answer.category.value,
                       care_date=answer.care_date.isoformat())


def _withheld(request: Request, exc: CheckWithheld) -> Response:
    """The guard's rungs as the portal shows them: the second-factor page, the login
    page (session ended or account suspended), or a page asking to wait."""
    if exc.action == Action.STEP_UP:
        raise SecondFactorRequired("a fresh second factor is required") from None
    if exc.action >= Action.SUSPEND_SESSION:
        raise SessionInvalid("ended") from None
    t = Translator(language_of(request))
    return error_page(request, status=429, message=t("check.slow_down"),
                      headers={"retry-after": str(exc.retry_after_s)})


# -- the claim ---------------------------------------------------------------------------


def _claim_page(request: Request, user: PortalUser, *, reference: str, category: str,
                care_date: str, status: int = 200, errors: dict[str, str] | None = None,
                claim: Any = None) -> Response:
    return _page(request, user, "claim.html", status=status, section="history",
                 reference=reference, category=category, care_date=care_date,
                 errors=errors or {}, claim=claim)


@router.get("/claims/new")
def claim_page(request: Request, user: Provider, reference: str = "", category: str = "",
               care_date: str = "") -> Response:
    t = Translator(language_of(request))
    try:
        dt.date.fromisoformat(care_date)
        valid = is_reference(reference) and category in CareCategory.__members__.values()
    except ValueError:
        valid = False
    if not valid:
        return error_page(request, status=400, message=t("claim.bad_link"))
    return _claim_page(request, user, reference=reference, category=category,
                       care_date=care_date)


@router.post("/claims")
def submit_claim(request: Request, raw: Form, user: Provider) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CLAIM_FIELDS)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    t = Translator(language_of(request))
    kept = {"reference": form.get("check_reference", ""), "category": form.get("category", ""),
            "care_date": form.get("care_date", "")}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, parse in (("care_date", date_field), ("billed", cents_field),
                        ("base_tariff", cents_field), ("amo_rate", basis_points_field)):
        try:
            values[name] = parse(form, name)
        except FieldProblem:
            problems.append(name)
    if problems:
        return _claim_page(request, user, status=422, reference=kept["reference"],
                           category=kept["category"], care_date=kept["care_date"],
                           errors={name: t(f"claim.error.{name}") for name in problems})
    bill = Bill(billed_cents=values["billed"], base_tariff_cents=values["base_tariff"],
                amo_rate_bp=values["amo_rate"])
    try:
        if not is_reference(kept["reference"]):
            raise UnknownReference("check")
        split = portal.checks.calculate(requester=user.requester, reference=kept["reference"],
                                        bill=bill)
        claim = portal.claims.submit(requester=user.requester, submission=ClaimSubmission(
            check_reference=kept["reference"], category=kept["category"],
            care_date=values["care_date"], billed_cents=bill.billed_cents,
            base_tariff_cents=bill.base_tariff_cents, amo_rate_bp=bill.amo_rate_bp,
            amc_cents=split.amc_cents))
    except UnknownReference:
        return error_page(request, status=404, message=t("claim.unknown_check"))
    except InvalidRequest as exc:
        return _claim_page(request, user, status=422, reference=kept["reference"],
                           category=kept["category"], care_date=kept["care_date"],
                           errors={e.field: t("claim.error.generic") for e in exc.errors})
    return _claim_page(request, user, claim=claim, reference=kept["reference"],
                       category=kept["category"], care_date=kept["care_date"])


# -- the history -------------------------------------------------------------------------


@router.get("/history")
def history(request: Request, user: Provider, checks_after: str | None = None,
            claims_after: str | None = None) -> Response:
    portal = portal_of(request)
    checks = portal.checks.list_checks(
        requester=user.requester, limit=PAGE_SIZE,
        after=checks_after if checks_after and is_reference(checks_after) else None)
    claims = portal.claims.list_claims(
        requester=user.requester, limit=PAGE_SIZE,
        after=claims_after if claims_after and is_reference(claims_after) else None)
    return _page(request, user, "history.html", section="history", checks=checks,
                 claims=claims)
