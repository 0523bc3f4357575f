"""HTTP clients that play providers and attackers against the instance under drill.

Each agent has its own network address, its own browser or software identity and, for
practice software, its own DPoP key. Everything goes through the instance's real HTTP
interface (`drill/endpoint.py`); nothing here labels a request.
"""

from __future__ import annotations

import re

import httpx

from rempart.auth.dpop_signer import DpopSigner
from rempart.clock import Clock
from rempart.drill.endpoint import Endpoint

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a secret)
CHECKS_PATH = "/api/v1/checks"
CLAIMS_PATH = "/api/v1/claims"
SOFTWARE_AGENT = "LogicielOfficine/7.2 (rempart-api)"
BROWSER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/131.0 Safari/537.36")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a portal page's form carries ("" if none)."""
    found = _CSRF.search(page.text)
    return found.group(1) if found else ""


class ApiAgent:
    """Practice software holding client credentials and a DPoP key (or a stolen token)."""

    def __init__(self, endpoint: Endpoint, clock: Clock, *, address: str, client_id: str,
                 secret: str) -> None:
        self.http = endpoint.client(address=address, agent=SOFTWARE_AGENT)
        self.base_url = endpoint.base_url
        self.key = DpopSigner(clock=clock)
        self._client_id = client_id
        self._secret = secret
        self.token: str | None = None
        self._clock = clock
        self._token_until = 0.0

    async def ensure_token(self) -> int:
        """Fetch an access token when none is held or it is about to expire."""
        if self.token is not None and self._clock.monotonic() < self._token_until:
            return 200
        answer = await self.http.post(TOKEN_PATH, data={
            "grant_type": "client_credentials", "client_id": self._client_id,
            "client_secret": self._secret},
            headers={"dpop": self.key.proof("POST", self.base_url + TOKEN_PATH)})
        if answer.status_code == 200:
            body = answer.json()
            self.token = str(body["access_token"])
            self._token_until = self._clock.monotonic() + int(body.get("expires_in", 300)) - 30
        else:
            self.token = None
        return answer.status_code

    async def check(self, payload: dict[str, object]) -> httpx.Response:
        status = await self.ensure_token()
        if self.token is None:
            return httpx.Response(status)
        return await post_with_token(self.http, self.key, self.token,
                                     self.base_url, CHECKS_PATH, payload)

    async def claim(self, payload: dict[str, object]) -> httpx.Response:
        await self.ensure_token()
        if self.token is None:
            return httpx.Response(401)
        return await post_with_token(self.http, self.key, self.token,
                                     self.base_url, CLAIMS_PATH, payload)

    async def close(self) -> None:
        await self.http.aclose()


async def post_with_token(http: httpx.AsyncClient, key: DpopSigner, token: str, base_url: str,
                          path: str, payload: dict[str, object]) -> httpx.Response:
    headers = {"authorization": f"DPoP {token}",
               "dpop": key.proof("POST", base_url + path, access_token=token)}
    return await http.post(path, headers=headers, json=payload)


async def portal_password_login(http: httpx.AsyncClient, origin: str, *, login: str,
                                password: str) -> httpx.Response:
    """The portal's login form, as a browser posts it (CSRF double submit included)."""
    page = await http.get("/portal/login")
    return await http.post("/portal/login", data={"csrf_token": csrf_of(page), "login": login,
                                                  "password": password},
                           headers={"origin": origin})


def disclosed(answer: httpx.Response) -> bool:
    """Any positive coverage data reached the caller: a 2xx answer saying covered."""
    if not 200 <= answer.status_code < 300:
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("covered") is True
