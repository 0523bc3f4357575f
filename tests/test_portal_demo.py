"""The demo's account: created once in a pharmacy of the instance, and what it prints
lets a newcomer log in (password, then the TOTP secret)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from portal_support import Browser, csrf_of
from rempart.auth.models import Account
from rempart.portal.demo import DEMO_LOGIN, demo_settings, ensure_demo_account
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from rempart.web import create_app


@pytest.fixture
def backend() -> str:
    """SQLite: the demo runs on the embedded database."""
    return "sqlite"


def test_the_demo_account_is_made_once_and_its_credentials_work(runtime: Runtime,
                                                                 tmp_path: Path) -> None:
    first = ensure_demo_account(runtime)
    second = ensure_demo_account(runtime)
    assert first.login == second.login == DEMO_LOGIN
    assert first.organisation_id == second.organisation_id
    assert first.totp_secret != second.totp_secret  # a fresh secret each start
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Account)).scalar_one() == 1
        assert conn.execute(select(Organisation.profession).where(
            Organisation.id == first.organisation_id)).scalar_one() == "pharmacy"
    lines = second.lines("http://localhost:8000")
    assert lines[0] == "Portal: http://localhost:8000/portal/login"
    assert second.password in lines[1]

    settings = demo_settings(runtime.settings, port=8000)
    assert settings.cookie_secure is False
    assert settings.auth.origins == ("http://localhost:8000",)
    demo_runtime = dataclasses.replace(runtime, settings=settings)
    browser = Browser(create_app(demo_runtime))
    try:
        page = browser.get("/portal/login")
        step = browser.post("/portal/login", data={
            "login": second.login, "password": second.password, "csrf_token": csrf_of(page)})
        assert step.headers["location"] == "/portal/second-factor"
        form = browser.get(step.headers["location"])
        code = pyotp.TOTP(second.totp_secret).now()
        done = browser.post("/portal/second-factor/totp",
                            data={"code": code, "csrf_token": csrf_of(form)})
        assert done.headers["location"] == "/portal/check"
        assert browser.get("/portal/admin").status_code == 200
    finally:
        browser.close()
