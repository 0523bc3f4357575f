"""Jinja2 environments and the formatting filters the report templates share.

HTML templates autoescape everything; the Markdown environment escapes every
interpolated value for Markdown through `finalize`, so a hostile name or contact can
neither inject HTML into a letter nor structure into the draft notification.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from rempart.response.fields import Language

PARIS = ZoneInfo("Europe/Paris")
_MONTHS = {
    Language.FR: ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                  "septembre", "octobre", "novembre", "décembre"),
    Language.EN: ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"),
}
# Enough to keep any value inline and inert: no emphasis, code, link, HTML, heading,
# table cell or strike-through can start inside it.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def local_date(value: dt.datetime | dt.date, language: str) -> str:
    """'12 février 2024' / '12 February 2024', in Paris time."""
    day = value.astimezone(PARIS).date() if isinstance(value, dt.datetime) else value
    lang = Language(language)
    number = "1er" if lang is Language.FR and day.day == 1 else str(day.day)
    return f"{number} {_MONTHS[lang][day.month - 1]} {day.year}"


def local_datetime(value: dt.datetime, language: str) -> str:
    """'12 février 2024 à 14 h 05 (heure de Paris)' / '12 February 2024 at 14:05 (Paris time)'."""
    moment = value.astimezone(PARIS)
    if Language(language) is Language.FR:
        return f"{local_date(moment, language)} à {moment:%H} h {moment:%M} (heure de Paris)"
    return f"{local_date(moment, language)} at {moment:%H:%M} (Paris time)"


def utc_iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def number(value: int, language: str) -> str:
    """1,234,567 / 1 234 567 (narrow no-break spaces, as French typography wants)."""
    text = f"{value:,}"
    return text.replace(",", "\u202f") if Language(language) is Language.FR else text


def duration(value: dt.timedelta) -> str:
    """A positive duration in hours and minutes: '41 h 12 min'."""
    hours, minutes = divmod(int(abs(value).total_seconds() // 60), 60)
    return f"{hours} h {minutes:02d} min"


def markdown_escape(value: Any) -> str:
    """Any value as inert Markdown text on one line."""
    if value is None:
        return ""
    text = _LINE_BREAKS.sub(" ", str(value))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _install_filters(env: Environment) -> Environment:
    env.filters.update(local_date=local_date, local_datetime=local_datetime, utc_iso=utc_iso,
                       number=number, duration=duration)
    return env


@functools.cache
def html_environment() -> Environment:
    return _install_filters(Environment(
        loader=PackageLoader("rempart.response", "templates"), autoescape=True, auto_reload=False,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True))


@functools.cache
def markdown_environment() -> Environment:
    # HTML escaping would garble Markdown; `finalize` escapes every value for Markdown.
    return _install_filters(Environment(
        loader=PackageLoader("rempart.response", "templates"), autoescape=False,  # noqa: S701
        finalize=markdown_escape, undefined=StrictUndefined, trim_blocks=True, auto_reload=False,
        lstrip_blocks=True, keep_trailing_newline=True))
