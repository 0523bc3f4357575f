"""Rendering pages: one Jinja2 environment (autoescaped, strict about undefined names)
and the helpers every template gets: the translator, money, rates and times."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from rempart.auth.accounts import AccountView
from rempart.auth.roles import Role
from rempart.portal.i18n import Translator, language_of


def money(cents: int | None, language: str) -> str:
    if cents is None:
        return "—"
    euros, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    if language == "fr":
        return f"{sign}{euros:,}".replace(",", "\u202f") + f",{rest:02d}\u00a0€"
    return f"{sign}€{euros:,}.{rest:02d}"


def rate(basis_points: int | None, language: str) -> str:
    if basis_points is None:
        return "—"
    whole, rest = divmod(basis_points, 100)
    text = f"{whole}" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")
    return (text.replace(".", ",") + "\u00a0%") if language == "fr" else f"{text}%"


def when(moment: dt.datetime | dt.date | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat()


SECTION_PATHS = {"check": "/portal/check", "history": "/portal/history",
                 "security": "/portal/security", "admin": "/portal/admin",
                 "enrol": "/portal/enrol", "second_factor": "/portal/second-factor",
                 "login": "/portal/login", "console": "/portal/console",
                 "api_step_up": "/portal/api-step-up"}


class Templates:
    def __init__(self) -> None:
        self._env = Environment(loader=PackageLoader("rempart.portal", "templates"),
                                autoescape=True, undefined=StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)

    def page(self, request: Request, template: str, *, status: int = 200,
             account: AccountView | None = None, csrf: str | None = None,
             headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        t = Translator(language_of(request))
        notice_key = f"notice.{request.query_params.get('notice', '')}"
        values: dict[str, Any] = {
            "t": t, "lang": t.language, "other_lang": t.other, "path": request.url.path,
            "csrf": csrf, "account": account, "signed_in": account is not None,
            "is_admin": account is not None and account.role in (
                Role.ORGANISATION_ADMIN, Role.OPERATOR_ADMIN),
            "is_operator": account is not None and account.role.is_operator,
            # Only notices named in the catalogue: the query never puts text on a page.
            "notice": t(notice_key) if t.has(notice_key) else None,
            "error": None, "section": None,
            "money": lambda cents: money(cents, t.language),
            "rate": lambda bp: rate(bp, t.language), "when": when,
        }
        values.update(context)
        if request.method != "GET":
            # A page answering a form: links that return to "this page" go to its section.
            values["path"] = SECTION_PATHS.get(values["section"] or "", "/portal/check")
        html = self._env.get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=headers)
