"""How an honest provider works: practice software over the API, or a person at the
portal's HTML forms. Both answer the same questions (check, claim) with an `Outcome`
that says what the provider got and which refusals it met and got past on the way.

The person at the portal signs in with password and TOTP when the session they know
of has timed out (a routine sign-in, not friction); a bounce to the login page while
the session should still be alive, a step-up page or a "slow down" page is friction,
which they get past as a person would: second factor, sign-in, or waiting.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import pyotp

from rempart.drill.agents import (
    BROWSER_AGENT,
    ApiAgent,
    csrf_of,
    disclosed,
    portal_password_login,
)
from rempart.drill.attack_base import PORTAL_BOUNCE, retry_after
from rempart.drill.clocks import pause
from rempart.drill.world import Account, World

BOUNCED = 401  # how a portal bounce to the login or second-factor page is scored
SUSPENDED = 423  # the API's status for a suspended account; the portal's login says 403
TOUCH_SLACK_S = 120  # the server counts idleness from a last-seen written once a minute
TOTP_STEP_S = 30
ATTEMPTS = 3
_REFERENCE = re.compile(r'<code id="check-reference">([^<]+)</code>')


@dataclass
class Outcome:
    status: int  # as scored: 2xx answered; a refusal as 401 (bounced), 403, 423 or 429
    covered: bool = False
    reference: str | None = None
    category: str | None = None
    met: list[int] = field(default_factory=list)  # refusals met and got past on the way


class Desk(Protocol):
    sign_ins: int

    async def check(self, payload: dict[str, Any]) -> Outcome: ...

    async def claim(self, *, reference: str, category: str, care_date: dt.date) -> Outcome: ...

    async def close(self) -> None: ...


def claim_body(*, reference: str, category: str, care_date: dt.date) -> dict[str, Any]:
    """A plain claim for the checked act: 20 EUR billed, base tariff 15 EUR, the compulsory
    scheme paying 65 %, the rest of the base asked of the insurer."""
    return {"check_reference": reference, "category": category,
            "care_date": care_date.isoformat(), "billed_cents": 2000,
            "base_tariff_cents": 1500, "amo_rate_bp": 6500, "amc_cents": 525}


class SoftwareDesk:
    """Practice software: client credentials and DPoP, JSON in and out."""

    sign_ins = 0  # software does not sign in at the portal

    def __init__(self, world: World, account: Account, *, address: str) -> None:
        self._agent = ApiAgent(world.endpoint, world.clock, address=address,
                               client_id=account.client_id, secret=account.client_secret)

    async def check(self, payload: dict[str, Any]) -> Outcome:
        answer = await self._agent.check(payload)
        if not disclosed(answer):
            return Outcome(answer.status_code)
        body = answer.json()
        return Outcome(answer.status_code, covered=True, reference=str(body["reference"]),
                       category=str(body["category"]))

    async def claim(self, *, reference: str, category: str, care_date: dt.date) -> Outcome:
        answer = await self._agent.claim(claim_body(reference=reference, category=category,
                                                    care_date=care_date))
        return Outcome(answer.status_code)

    async def close(self) -> None:
        await self._agent.close()


class PortalDesk:
    """A person in a browser: the login and second-factor forms, then the check and
    claim forms, reading the answers off the HTML pages. Cookies (session, device,
    CSRF) live in the client as in a browser."""

    def __init__(self, world: World, account: Account, *, address: str) -> None:
        self._world = world
        self._account = account
        self._http = world.endpoint.client(address=address, agent=BROWSER_AGENT)
        self._origin = world.endpoint.base_url
        self._signed_in_at: dt.datetime | None = None
        self._last_seen: dt.datetime | None = None
        self._last_step = -1  # TOTP codes are accepted once: never type one twice
        self.sign_ins = 0  # completed sign-ins (password and TOTP), routine or not

    async def check(self, payload: dict[str, Any]) -> Outcome:
        met: list[int] = []
        status = BOUNCED
        for _ in range(ATTEMPTS):
            if not await self._ready(met):
                return Outcome(self._refusal(met), met=met)
            page = await self._http.get("/portal/check")
            if page.status_code == 200:
                fields = {"csrf_token": csrf_of(page),
                          **{k: str(v) for k, v in payload.items()}}
                answer = await self._http.post("/portal/check", data=fields,
                                               headers={"origin": self._origin})
            else:
                answer = page
            status = await self._got_past(answer, met)
            if status == 200:
                found = _REFERENCE.search(answer.text)
                covered = 'class="card answer covered"' in answer.text
                return Outcome(200, covered=covered, reference=found.group(1) if found else None,
                               category=str(payload["category"]), met=met)
            if status != BOUNCED and status != 429:
                return Outcome(status, met=met)
        return Outcome(status, met=met)

    async def claim(self, *, reference: str, category: str, care_date: dt.date) -> Outcome:
        met: list[int] = []
        status = BOUNCED
        link = (f"/portal/claims/new?reference={quote(reference)}&category={quote(category)}"
                f"&care_date={care_date.isoformat()}")
        for _ in range(ATTEMPTS):
            if not await self._ready(met):
                return Outcome(self._refusal(met), met=met)
            page = await self._http.get(link)
            answer = page
            if page.status_code == 200:
                answer = await self._http.post("/portal/claims", headers={"origin": self._origin},
                                               data={"csrf_token": csrf_of(page),
                                                     "check_reference": reference,
                                                     "category": category,
                                                     "care_date": care_date.isoformat(),
                                                     "billed": "20,00", "base_tariff": "15,00",
                                                     "amo_rate": "65"})
            status = await self._got_past(answer, met)
            if status == 200:
                return Outcome(200 if 'id="claim-result"' in answer.text else 422, met=met)
            if status != BOUNCED and status != 429:
                return Outcome(status, met=met)
        return Outcome(status, met=met)

    async def close(self) -> None:
        await self._http.aclose()

    # -- signing in and getting past refusals ----------------------------------------------

    def _alive(self) -> bool:
        """Whether the session should still be open, by the documented timeouts."""
        if self._signed_in_at is None or self._last_seen is None:
            return False
        now = self._world.clock.now()
        idle = (now - self._last_seen).total_seconds()
        age = (now - self._signed_in_at).total_seconds()
        return (idle < self._world.session_idle_s - TOUCH_SLACK_S
                and age < self._world.session_absolute_s - TOUCH_SLACK_S)

    async def _ready(self, met: list[int]) -> bool:
        """Signed in, by a routine sign-in if the session has timed out."""
        if self._alive():
            return True
        self._signed_in_at = None
        for _ in range(ATTEMPTS):
            login = await portal_password_login(self._http, self._origin,
                                                login=self._account.email,
                                                password=self._account.password)
            if login.status_code == 429:
                met.append(429)
                await pause(self._world.clock, retry_after(login))
                continue
            if login.status_code == 403:
                met.append(SUSPENDED)
                return False
            if login.status_code != 303:
                met.append(login.status_code)
                return False
            return await self._second_factor("/portal/check", met)
        return False

    async def _second_factor(self, next_path: str, met: list[int]) -> bool:
        for _ in range(ATTEMPTS):
            page = await self._http.get(f"/portal/second-factor?next={quote(next_path)}")
            if page.status_code != 200:
                met.append(BOUNCED)
                return False
            step = int(self._world.clock.now().timestamp()) // TOTP_STEP_S
            if step <= self._last_step:  # wait for the next code, as a person would
                await pause(self._world.clock, (self._last_step + 1) * TOTP_STEP_S + 1
                            - self._world.clock.now().timestamp())
            self._last_step = int(self._world.clock.now().timestamp()) // TOTP_STEP_S
            code = pyotp.TOTP(self._account.totp_secret).at(self._world.clock.now())
            answer = await self._http.post("/portal/second-factor/totp",
                                           headers={"origin": self._origin},
                                           data={"csrf_token": csrf_of(page), "code": code,
                                                 "next": next_path})
            if answer.status_code == 303:
                now = self._world.clock.now()
                self.sign_ins += self._signed_in_at is None
                self._signed_in_at = self._signed_in_at or now
                self._last_seen = now
                return True
            if answer.status_code == 429:
                met.append(429)
                await pause(self._world.clock, retry_after(answer))
        met.append(BOUNCED)
        return False

    async def _got_past(self, answer: httpx.Response, met: list[int]) -> int:
        """The answer's status as scored; a refusal is noted and dealt with for a retry."""
        if answer.status_code in PORTAL_BOUNCE:
            location = answer.headers.get("location", "")
            if location.startswith("/portal/second-factor"):
                met.append(BOUNCED)  # a step-up: the guard asks for the second factor again
                await self._second_factor("/portal/check", met)
            else:
                met.append(BOUNCED)  # the session ended before its time
                self._signed_in_at = None
            return BOUNCED
        if answer.status_code == 429:
            met.append(429)
            await pause(self._world.clock, retry_after(answer))
            return 429
        if answer.status_code == 200:
            self._last_seen = self._world.clock.now()
        return answer.status_code

    @staticmethod
    def _refusal(met: list[int]) -> int:
        return met[-1] if met else BOUNCED
