"""The portal's cookies and what a request tells about its client.

Three cookies: the session (cleared when the browser closes), the device token (one
year; sessions are bound to it) and, before login, a double-submit CSRF token for the
anonymous forms. All are HttpOnly and SameSite=Strict. With `secure` (the default) they
are also Secure and named with the `__Host-` prefix, which makes the browser refuse any
version set by a sub-domain or over plain HTTP; a plain-HTTP loopback instance (demo,
tests) turns `secure` off, since a browser drops such cookies on http://.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from rempart.auth.client import MAX_AGENT_LENGTH, MAX_TOKEN_LENGTH, ClientInfo
from rempart.auth.sessions import IssuedSession
from rempart.web.identity import client_address

DEVICE_MAX_AGE = 365 * 24 * 3600
LANGUAGE_MAX_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE = "rempart-lang"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    secure: bool = True

    def _name(self, stem: str) -> str:
        return f"__Host-rempart-{stem}" if self.secure else f"rempart-{stem}"

    @property
    def session_name(self) -> str:
        return self._name("session")

    @property
    def device_name(self) -> str:
        return self._name("device")

    @property
    def csrf_name(self) -> str:
        return self._name("csrf")

    def _set(self, response: Response, name: str, value: str, *,
             max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=self.secure,
                            httponly=True, samesite="strict")

    def set_session(self, response: Response, issued: IssuedSession) -> None:
        self._set(response, self.session_name, issued.token, max_age=None)
        if issued.device_token:
            self._set(response, self.device_name, issued.device_token,
                      max_age=DEVICE_MAX_AGE)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(self.session_name, path="/", secure=self.secure,
                               httponly=True, samesite="strict")

    def set_csrf(self, response: Response, value: str) -> None:
        self._set(response, self.csrf_name, value, max_age=None)

    def set_language(self, response: Response, language: str) -> None:
        # Not a secret: readable settings, but still first-party only.
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=LANGUAGE_MAX_AGE, path="/",
                            secure=self.secure, httponly=True, samesite="strict")

    def session_token(self, request: Request) -> str | None:
        return _bounded(request.cookies.get(self.session_name))

    def device_token(self, request: Request) -> str | None:
        return _bounded(request.cookies.get(self.device_name))

    def csrf_cookie(self, request: Request) -> str | None:
        return _bounded(request.cookies.get(self.csrf_name))


def _bounded(value: str | None) -> str | None:
    """A cookie value as the domain accepts it; an oversized one counts as absent."""
    return value if value and len(value) <= MAX_TOKEN_LENGTH else None


def client_info(request: Request, policy: CookiePolicy) -> ClientInfo:
    """Address, user agent and device token, within the sizes the domain accepts. (A
    browser without a device token gets one from the login itself, which the answer
    then sets as the device cookie.)"""
    device = policy.device_token(request)
    return ClientInfo(address=client_address(request) or "unknown",
                      user_agent=request.headers.get("user-agent", "")[:MAX_AGENT_LENGTH],
                      device_token=device)
