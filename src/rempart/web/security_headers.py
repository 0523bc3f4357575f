"""Security headers on every answer, added by the app's edge layer (`rempart.web.edge`).

The content security policy allows only the app's own scripts, styles and images (no
inline script, no third-party origin) and no framing; the referrer never leaves the
site; MIME sniffing is off. Portal pages and the token endpoint are also marked
`no-store`, since they may carry personal data or secrets.

FastAPI's interactive API documentation page loads Swagger UI from a CDN with an
inline script, so that one page gets no CSP (its other headers stay): it shows no
personal data and the portal never links to it.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_ALWAYS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii"))
_NO_STORE = (b"cache-control", b"no-store")
_WITH_CSP = [*_ALWAYS, _CSP]
NO_CSP_PATHS = frozenset({"/api/v1/docs"})
NO_STORE_PREFIXES = ("/portal/", "/oauth/")
STATIC_PREFIX = "/portal/static/"


def security_headers_for(path: str) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The headers every answer on `path` gets, and whether it must not be stored."""
    extra = _ALWAYS if path in NO_CSP_PATHS else _WITH_CSP
    return extra, path.startswith(NO_STORE_PREFIXES) and not path.startswith(STATIC_PREFIX)


def with_security_headers(headers: list[tuple[bytes, bytes]],
                          extra: list[tuple[bytes, bytes]],
                          no_store: bool) -> list[tuple[bytes, bytes]]:
    """The route's headers followed by ours; under no-store, ours replaces the route's
    cache-control."""
    if no_store:
        headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
        return [*headers, *extra, _NO_STORE]
    return [*headers, *extra]
