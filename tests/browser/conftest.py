"""Browser tests: the portal served by a real uvicorn server, driven in Debian's Chromium
through Playwright (no browser download: `executable_path` is the system's chromium).

The page is opened at http://localhost:PORT, since WebAuthn refuses an IP address as
relying party id. Without /usr/bin/chromium these tests are skipped, and with
REMPART_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from browser.browser_support import LivePortal
from portal_support import PORTAL_AUTH, portal_env, sqlite_instance

CHROMIUM = Path(os.environ.get("REMPART_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REQUIRE_SERVICES = os.environ.get("REMPART_REQUIRE_SERVICES") == "1"


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        message = f"Chromium unavailable: {CHROMIUM} not found"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def live_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    _chromium_or_skip()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    origin = f"http://localhost:{port}"
    settings = sqlite_instance(tmp_path_factory.mktemp("browser"))
    auth = dataclasses.replace(PORTAL_AUTH, origins=(origin,), token_issuer=origin)
    with portal_env(settings, auth_settings=auth) as env:
        server = uvicorn.Server(uvicorn.Config(env.app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the portal server did not start")
            time.sleep(0.02)
        try:
            yield LivePortal(url=origin, env=env)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            listener.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    _chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
