"""The member pages under /moi/: plain HTML in French or English, no script, nothing
loaded from elsewhere.

    POST /moi/historique   (form: token, lang) from the insurer's member area: verifies
                           the link, opens a 15-minute session, redirects to the page
    GET  /moi/historique   the history (?lang=en for English)
    POST /moi/signalement  (form: reference, csrf, lang) reports a check

    GET  /moi/style.css    the pages' only other resource, from rempart itself

Every page says `Cache-Control: no-store`.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse, RedirectResponse, Response

from rempart.member import labels
from rempart.member.errors import InvalidMemberLink, MemberSessionExpired, UnknownCheck
from rempart.member.history import HistoryItem, HistoryPage, ItemKind
from rempart.member.service import MemberArea
from rempart.member.sessions import SESSION_SECONDS, MemberSessionView
from rempart.member.throttle import (
    UNAVAILABLE_RETRY_S,
    MemberLimitUnavailable,
    MemberThrottled,
)
from rempart.response.rendering import local_datetime, utc_iso
from rempart.web.dependencies import run_blocking
from rempart.web.identity import client_address

COOKIE = "__Host-rempart-member"
PLAIN_HTTP_COOKIE = "rempart-member"  # a plain-HTTP loopback instance (demo, tests)
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 8 * 1024
NOTICES = ("reported", "already")
# The app's security-headers middleware adds the content security policy (own origin only,
# no script) and the rest; these pages show personal data, so nothing keeps a copy.
SECURITY_HEADERS = {"Cache-Control": "no-store"}
STYLE = files("rempart.member").joinpath("templates/member.css").read_bytes()

router = APIRouter(include_in_schema=False)


@functools.cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("rempart.member", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       auto_reload=False)


def _area(request: Request) -> MemberArea:
    area: MemberArea = request.app.state.member_area
    return area


def _secure(request: Request) -> bool:
    """Secure cookies unless the settings say the instance runs on plain HTTP."""
    return bool(getattr(request.app.state, "member_cookie_secure", True))


def _cookie_name(request: Request) -> str:
    return COOKIE if _secure(request) else PLAIN_HTTP_COOKIE


@router.get("/moi/style.css")
async def style() -> Response:
    return Response(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=86400"})


@router.post("/moi/historique")
async def enter(request: Request) -> Response:
    form = await _form(request)
    lang = _language(form.get("lang"))
    try:
        opened = await run_blocking(request, _area(request).enter, token=form.get("token", ""),
                                    client_address=client_address(request))
    except InvalidMemberLink:
        return _message(lang, status=401, key="invalid")
    except (MemberThrottled, MemberLimitUnavailable) as exc:
        return _busy(lang, exc)
    response = RedirectResponse(f"/moi/historique?lang={lang}", status_code=303,
                                headers=SECURITY_HEADERS)
    response.set_cookie(_cookie_name(request), opened.cookie, max_age=SESSION_SECONDS,
                        path="/", secure=_secure(request), httponly=True, samesite="lax")
    return response


@router.get("/moi/historique")
async def show(request: Request, lang: str = "fr", notice: str | None = None) -> Response:
    language = _language(lang)
    try:
        view, page = await run_blocking(request, _area(request).history_for_session,
                                        cookie=request.cookies.get(_cookie_name(request)),
                                        client_address=client_address(request))
    except MemberSessionExpired:
        return _message(language, status=401, key="invalid")
    return _history(language, view, page, notice if notice in NOTICES else None)


@router.post("/moi/signalement")
async def report(request: Request) -> Response:
    form = await _form(request)
    lang = _language(form.get("lang"))
    try:
        done = await run_blocking(request, _area(request).report_for_session,
                                  cookie=request.cookies.get(_cookie_name(request)),
                                  csrf_token=form.get("csrf", ""),
                                  reference=form.get("reference", ""),
                                  client_address=client_address(request))
    except MemberSessionExpired:
        return _message(lang, status=401, key="invalid")
    except UnknownCheck:
        return _message(lang, status=404, key="unknown_check")
    notice = "reported" if done else "already"
    return RedirectResponse(f"/moi/historique?lang={lang}&notice={notice}", status_code=303,
                            headers=SECURITY_HEADERS)


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form, one value per field; anything else reads as empty."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(body.decode("ascii"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in parsed.items() if len(values) == 1}


def _language(value: Any) -> str:
    return "en" if value == "en" else "fr"


def _render(name: str, status: int, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _message(lang: str, *, status: int, key: str) -> HTMLResponse:
    text = labels.words(lang)
    return _render("message.html", status, lang=lang, title=text["invalid_title"],
                   message=text[key])


def _busy(lang: str, exc: MemberThrottled | MemberLimitUnavailable) -> HTMLResponse:
    """429 with Retry-After, or 503 when the limits cannot be counted (fail closed)."""
    text = labels.words(lang)
    status, wait = ((429, exc.retry_after) if isinstance(exc, MemberThrottled)
                    else (503, UNAVAILABLE_RETRY_S))
    response = _render("message.html", status, lang=lang, title=text["busy_title"],
                       message=text["busy"])
    response.headers["Retry-After"] = str(wait)
    return response


def _history(lang: str, view: MemberSessionView, page: HistoryPage,
             notice: str | None) -> HTMLResponse:
    text = labels.words(lang)
    return _render(
        "history.html", 200, lang=lang, other="fr" if lang == "en" else "en", t=text,
        title=text["title"], rows=[_row(item, lang) for item in page.items],
        truncated=page.truncated, csrf=view.csrf_token,
        notice={"reported": text["thanks"], "already": text["already"]}.get(notice or "", ""),
        expires=local_datetime(view.expires_at, lang), expires_iso=utc_iso(view.expires_at))


def _row(item: HistoryItem, lang: str) -> dict[str, Any]:
    return {
        "iso": utc_iso(item.at), "when": local_datetime(item.at, lang),
        "kind": labels.label(labels.KINDS, item.kind.value, lang),
        "organisation": item.organisation,
        "profession": labels.label(labels.PROFESSIONS, item.profession, lang),
        "category": labels.label(labels.CATEGORIES, item.category, lang),
        "outcome": labels.label(labels.OUTCOMES, item.outcome, lang),
        "reference": item.reference, "reportable": item.kind is ItemKind.CHECK,
        "reported": item.reported,
    }
