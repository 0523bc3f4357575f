"""Helpers for the browser tests: the live server's address, Chromium contexts with a
virtual authenticator, and screenshots saved as test artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from portal_support import PortalEnv

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TABLET = {"width": 1024, "height": 768}


@dataclass
class LivePortal:
    url: str
    env: PortalEnv


def new_context(chromium: Browser, **options: Any) -> BrowserContext:
    context = chromium.new_context(viewport=TABLET, locale="fr-FR", **options)
    context.set_default_timeout(15_000)
    return context


def add_authenticator(context: BrowserContext, page: Page) -> Any:
    """A virtual platform authenticator (CTAP2, resident keys, user verification), added
    before the page calls navigator.credentials."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return cdp, added["authenticatorId"]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
