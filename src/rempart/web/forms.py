"""Reading `application/x-www-form-urlencoded` bodies with hard limits.

Every form names the fields it accepts and the longest value of each; anything else
(another content type, bytes that are not URL-encoded UTF-8, a field given twice, a
value over its limit, control characters) is refused with a `FormError` that names
the field and never repeats the value. The whole body is already capped by
the edge layer (`rempart.web.edge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

from rempart.core.errors import RempartError

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 40
_ALLOWED_CONTROLS = frozenset("\t\r\n")


class FormError(RempartError):
    """A form refused as a whole or for one field; `field` is a name we chose, or 'form'."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class RawForm:
    """A request body not parsed yet, so that synchronous handlers can parse it."""

    content_type: str
    body: bytes


async def raw_form(request: Request) -> RawForm:
    return RawForm(content_type=request.headers.get("content-type", ""),
                   body=await request.body())


async def read_form(request: Request, *, limits: Mapping[str, int],
                    ignore_unknown: bool = False) -> dict[str, str]:
    return parse_form(await raw_form(request), limits=limits, ignore_unknown=ignore_unknown)


def parse_form(raw: RawForm, *, limits: Mapping[str, int],
               ignore_unknown: bool = False) -> dict[str, str]:
    """The form's fields, each within its limit; an absent field is simply missing."""
    media_type = raw.content_type.split(";")[0].strip().lower()
    if not raw.body:
        return {}  # an empty form (a bare button) needs no content type
    if media_type != FORM_MEDIA_TYPE:
        raise FormError("form", f"must be sent as {FORM_MEDIA_TYPE}")
    body = raw.body
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise FormError("form", "malformed form data") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        limit = limits.get(name)
        if limit is None:
            if ignore_unknown:
                continue
            raise FormError("form", "carries a field this form does not accept")
        if name in fields:
            raise FormError(name, "given more than once")
        if len(value) > limit:
            raise FormError(name, f"longer than {limit} characters")
        if any(ord(c) < 32 and c not in _ALLOWED_CONTROLS for c in value):
            raise FormError(name, "contains control characters")
        fields[name] = value
    return fields
