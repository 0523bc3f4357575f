"""Support for the portal and HTTP authentication tests: the check population behind an
app with real authentication (sessions, DPoP tokens), a browser-like HTTP client that
keeps cookies, and helpers that walk the login flows over HTTP.

Cookies are not Secure here (plain http:// in-process); test_portal_security checks the
Secure/__Host- flavour separately.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from auth_support import (
    BACKENDS,
    BROWSER,
    PASSWORD,
    TEST_AUTH,
    DpopClient,
    SoftAuthenticator,
    backend_settings,
)
from checks_support import Population, build_population
from rempart.auth.config import AuthSettings
from rempart.auth.events import MemoryEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.tokens import ContactFields
from rempart.clock import ManualClock
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web import create_app

BASE_URL = "http://rempart.test"
ORIGIN = "http://localhost:8000"  # what the software authenticator claims (AuthSettings)
PORTAL_AUTH = dataclasses.replace(TEST_AUTH, origins=(ORIGIN,), token_issuer=BASE_URL)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')


class Browser:
    """A synchronous, cookie-keeping client over the ASGI app, with a browser's agent."""

    def __init__(self, app: Any, *, agent: str = BROWSER, address: str = "192.0.2.10") -> None:
        self._runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 50000)),
            base_url=BASE_URL, headers={"user-agent": agent}, follow_redirects=False)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._runner.run(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def form(self, url: str, page: httpx.Response | str, fields: dict[str, str],
             **kwargs: Any) -> httpx.Response:
        """Post a form with the CSRF token that the page carried."""
        return self.post(url, data={"csrf_token": csrf_of(page), **fields}, **kwargs)

    def json(self, url: str, page: httpx.Response | str, body: dict[str, Any]) -> httpx.Response:
        return self.post(url, json=body, headers={"x-csrf-token": meta_csrf_of(page)})

    def close(self) -> None:
        self._runner.run(self.http.aclose())
        self._runner.close()


def text_of(page: httpx.Response | str) -> str:
    return page if isinstance(page, str) else page.text


def csrf_of(page: httpx.Response | str) -> str:
    found = _CSRF.search(text_of(page))
    if found is None:
        raise AssertionError("the page carries no CSRF token")
    return html.unescape(found.group(1))


def meta_csrf_of(page: httpx.Response | str) -> str:
    found = _META_CSRF.search(text_of(page))
    if found is None:
        raise AssertionError("the page carries no CSRF meta token")
    return html.unescape(found.group(1))


def totp_secret_of(page: httpx.Response | str) -> str:
    found = _SECRET.search(text_of(page))
    if found is None:
        raise AssertionError("the page shows no TOTP secret")
    return found.group(1)


@dataclass
class PortalEnv:
    runtime: Runtime
    population: Population
    events: MemoryEventSink
    auth: AuthServices
    app: Any
    clock: ManualClock
    _count: int = 0
    _browsers: list[Browser] = dataclasses.field(default_factory=list)

    def browser(self, **kwargs: Any) -> Browser:
        """A new browser (closed with the environment)."""
        browser = Browser(self.app, **kwargs)
        self._browsers.append(browser)
        return browser

    def close(self) -> None:
        for browser in self._browsers:
            browser.close()
        self._browsers.clear()

    def account(self, *, role: Role = Role.PROVIDER_USER, which: int = 0) -> tuple[int, str]:
        self._count += 1
        email = f"pharmacien{self._count}@pharmacie.example"
        view = self.auth.accounts.create_account(
            contact=ContactFields(email, "Camille Comptoir"), password=PASSWORD, role=role,
            organisation_id=None if role.is_operator else self.population.organisation_ids[which])
        return view.id, email

    def totp(self, secret: str, *, steps_ahead: int = 0) -> str:
        return pyotp.TOTP(secret).at(self.clock.now().timestamp() + 30 * steps_ahead)

    def password_login(self, browser: Browser, email: str,
                       password: str = PASSWORD) -> httpx.Response:
        page = browser.get("/portal/login")
        return browser.form("/portal/login", page, {"login": email, "password": password})

    def enrol_totp(self, browser: Browser, email: str) -> str:
        """First login with TOTP enrolment, through the pages; returns the secret."""
        answer = self.password_login(browser, email)
        if answer.headers.get("location") != "/portal/enrol":
            raise AssertionError(f"expected enrolment, got {answer.status_code}")
        shown = browser.form("/portal/enrol/totp", browser.get("/portal/enrol"), {})
        secret = totp_secret_of(shown)
        done = browser.form("/portal/enrol/totp/confirm", shown, {"code": self.totp(secret)})
        if done.status_code != 200 or "recovery-codes" not in done.text:
            raise AssertionError(f"TOTP enrolment failed: {done.status_code}")
        # Every later code must be for a later time step than the one just used.
        self.clock.advance(30)
        return secret

    def signed_in(self, *, role: Role = Role.PROVIDER_USER,
                  which: int = 0) -> tuple[Browser, int, str, str]:
        """A browser with a FULL session (TOTP); returns browser, account id, e-mail, secret."""
        browser = self.browser()
        account_id, email = self.account(role=role, which=which)
        secret = self.enrol_totp(browser, email)
        return browser, account_id, email, secret


    def add_passkey(self, browser: Browser) -> SoftAuthenticator:
        """Register a passkey through the JSON endpoints (at first login, or within the
        session's recent second factor); returns the authenticator."""
        page = browser.get("/portal/enrol")
        begin = browser.json("/portal/webauthn/register/begin", page, {}).json()
        authenticator = SoftAuthenticator(origin=ORIGIN)
        done = browser.json("/portal/webauthn/register/finish", page, {
            "ceremony_id": begin["ceremony_id"], "label": "Comptoir",
            "credential": authenticator.create(json.dumps(begin["options"]))})
        if done.status_code != 200:
            raise AssertionError(f"passkey registration failed: {done.text}")
        return authenticator

    def passkey_second_factor(self, browser: Browser, authenticator: SoftAuthenticator,
                              page: httpx.Response, next_path: str = "/portal/check",
                              ) -> httpx.Response:
        """Answer the second-factor page with the passkey."""
        begin = browser.json("/portal/webauthn/second-factor/begin", page, {}).json()
        return browser.json("/portal/webauthn/second-factor/finish", page, {
            "ceremony_id": begin["ceremony_id"], "next": next_path,
            "credential": authenticator.get(json.dumps(begin["options"]))})


def sqlite_instance(directory: Path) -> Settings:
    return Settings.load(data_dir=directory, database_url=f"sqlite:///{directory / 'r.db'}",
                         key_file=directory / "keyring.json")


@contextmanager
def portal_env(settings: Settings, *, auth_settings: AuthSettings = PORTAL_AUTH,
               cookie_secure: bool = False) -> Iterator[PortalEnv]:
    runtime = Runtime.open(dataclasses.replace(settings, cookie_secure=cookie_secure,
                                               auth=auth_settings), create_keys=True)
    try:
        population = build_population(runtime)  # sets the runtime's ManualClock
        events = MemoryEventSink()
        auth = AuthServices.build(runtime, events=events, settings=auth_settings)
        app = create_app(runtime, auth=auth)
        clock = runtime.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("the population sets a manual clock")
        env = PortalEnv(runtime=runtime, population=population, events=events, auth=auth,
                        app=app, clock=clock)
        try:
            yield env
        finally:
            env.close()
    finally:
        runtime.close()


def shared_portal(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    """Body of a module-scoped fixture: one instance per backend for a whole module
    (creating and migrating a database per test would dominate the run time)."""
    directory = tmp_path_factory.mktemp("portal")
    with backend_settings(str(request.param), directory) as settings, \
            portal_env(settings) as env:
        yield env


# Backends of a portal module whose guard also runs with its state in Redis.
GUARD_BACKENDS = [*BACKENDS, "redis-guard"]


def shared_portal_or_redis_guard(request: pytest.FixtureRequest,
                                 tmp_path_factory: pytest.TempPathFactory
                                 ) -> Iterator[PortalEnv]:
    """shared_portal, or for "redis-guard" SQLite with the guard's state in Redis (as
    several workers share it)."""
    if request.param != "redis-guard":
        yield from shared_portal(request, tmp_path_factory)
        return
    from guard_fixtures import REDIS_URL, redis_prefix
    from rempart.guard import GuardSettings

    directory = tmp_path_factory.mktemp("portal")
    with redis_prefix() as prefix, portal_env(dataclasses.replace(
            sqlite_instance(directory),
            guard=GuardSettings(storage_uri=REDIS_URL, key_prefix=prefix))) as env:
        yield env


def fresh(env: PortalEnv) -> PortalEnv:
    """Body of the per-test fixture: an hour later (throttle windows, sessions and
    ceremonies of earlier tests have expired), no events, no open browsers."""
    env.close()
    env.clock.advance(3600)
    env.events.events.clear()
    return env


__all__ = ["BACKENDS", "DpopClient", "PortalEnv", "fresh", "portal_env", "shared_portal"]
