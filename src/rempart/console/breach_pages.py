"""Breach response pages of the security console.

    GET  /portal/console/breach                    the form: window, accounts, organisations
    POST /portal/console/breach                    run scope and report; the counts and links
    GET  /portal/console/breach/{run}/{file}       download one file of a run

Times are typed as UTC (a datetime-local field) or ISO 8601 with an offset. A form that
cannot be read (no account or organisation, no start, an inverted window, a date that is
not one) comes back with the reason and nothing is run. The page shows counts only; the
persons are in the files, which only an operator downloads, each download audited.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, Response

from rempart.console.breach import BreachRuns
from rempart.console.pages import Operator, page
from rempart.portal.access import CSRF_FIELD, require_csrf
from rempart.portal.errors import error_page
from rempart.portal.i18n import Translator, language_of
from rempart.response import ContactPoint, InvalidScope, ResponseError
from rempart.web.forms import RawForm, parse_form, raw_form

router = APIRouter(prefix="/portal/console/breach", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]
FIELDS = {"accounts": 400, "organisations": 400, "since": 40, "until": 40, "detected_at": 40,
          "dpo_name": 200, "dpo_contact": 200, "measures": 2000, CSRF_FIELD: 128}
_IDS = re.compile(r"[\s,;]+")
MAX_IDS = 200


def runs_of(request: Request) -> BreachRuns:
    runs: BreachRuns = request.app.state.breach_runs
    return runs


def ids(field: str, text: str) -> list[int]:
    found = [part for part in _IDS.split(text.strip()) if part]
    if len(found) > MAX_IDS or not all(part.isdigit() and len(part) < 19 for part in found):
        raise InvalidScope(field, "must be internal ids (numbers) separated by commas")
    return [int(part) for part in found]


def moment(field: str, text: str) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidScope(field, "is not a date and time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@router.get("")
def breach_form(request: Request, user: Operator) -> Response:
    return page(request, user, "console_breach.html", values={}, run=None)


@router.post("")
def breach_run(request: Request, raw: Form, user: Operator) -> Response:
    form = parse_form(raw, limits=FIELDS)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    values = {k: v for k, v in form.items() if k != CSRF_FIELD}
    try:
        run = runs_of(request).run(
            actor=user.actor, accounts=ids("accounts", form.get("accounts", "")),
            organisations=ids("organisations", form.get("organisations", "")),
            since=moment("since", form.get("since", "")),
            until=moment("until", form.get("until", "")),
            detected_at=moment("detected_at", form.get("detected_at", "")),
            contact=ContactPoint(name=form.get("dpo_name", "").strip() or None,
                                 contact=form.get("dpo_contact", "").strip() or None),
            measures=[m.strip() for m in form.get("measures", "").splitlines() if m.strip()])
    except ResponseError as exc:
        t = Translator(language_of(request))
        return page(request, user, "console_breach.html", status=400, values=values,
                    run=None, error=t("breach.error", reason=str(exc)))
    return page(request, user, "console_breach.html", values=values, run=run)


@router.get("/{run_id}/{name:path}")
def breach_file(request: Request, run_id: str, name: str, user: Operator) -> Response:
    try:
        path = runs_of(request).file(actor=user.actor, run_id=run_id, name=name)
    except InvalidScope:
        t = Translator(language_of(request))
        return error_page(request, status=404, message=t("breach.no_file"))
    return FileResponse(path, filename=path.name,
                        headers={"cache-control": "no-store"},
                        content_disposition_type="attachment")
