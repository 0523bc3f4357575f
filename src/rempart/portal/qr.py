"""QR codes for TOTP enrolment, drawn on the server (segno) as an SVG data URI, so the
secret never goes to a third-party service and the page needs no script to show it."""

from __future__ import annotations

import segno


def qr_data_uri(text: str) -> str:
    code = segno.make(text, error="m", micro=False)
    uri: str = code.svg_data_uri(scale=5, border=4, dark="#000", light="#fff")
    return uri
