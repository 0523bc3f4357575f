"""The portal's languages: a small message catalogue per language, in JSON.

French is the default; English is chosen by a cookie set from the language switch.
A message may hold `{name}` fields filled by the caller. A key missing from a
catalogue falls back to French, then to the key itself (tests keep the two
catalogues identical in keys).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request

from rempart.web.cookies import LANGUAGE_COOKIE

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


@cache
def catalogue(language: str) -> dict[str, str]:
    text = resources.files("rempart.portal").joinpath(f"messages/{language}.json").read_text(
        encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._messages = catalogue(self.language)
        self._fallback = catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **fields: Any) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        return text.format(**fields) if fields else text

    def has(self, key: str) -> bool:
        return key in self._messages

    @property
    def other(self) -> str:
        return "en" if self.language == "fr" else "fr"


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
