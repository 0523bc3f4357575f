"""Attacks through the API with stolen practice-software credentials (client id and
secret taken from a compromised workstation; the attacker makes its own DPoP key, which
the client-credentials grant accepts): S4 low and slow in the victim's hours, S5
distributed over many accounts, S6 probing with guessed dates of birth and member
numbers. And S9: an access token copied without its DPoP private key."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace

from rempart.auth.dpop_signer import DpopSigner
from rempart.drill.agents import CHECKS_PATH, SOFTWARE_AGENT, ApiAgent, disclosed
from rempart.drill.attack_base import AttackContext, in_hours, retry_after
from rempart.drill.profiles import PROFILES
from rempart.drill.truth import Person
from rempart.drill.world import Account


def _agent(ctx: AttackContext, victim: Account, n: int, *,
           address: str | None = None) -> ApiAgent:
    """The attacker's software on the victim's stolen client credentials, from `address`
    (by default the attacker's n-th address after the first 200)."""
    return ApiAgent(ctx.world.endpoint, ctx.world.clock,
                    address=address or ctx.address(200 + n),
                    client_id=victim.client_id, secret=victim.client_secret)


async def _scrape(ctx: AttackContext, agent: ApiAgent, victim: Account,
                  people: list[Person], *, pace_s: float, in_victim_hours: bool,
                  until: dt.datetime, first_after_s: float = 0.0) -> AsyncIterator[dt.datetime]:
    """Check each person in turn; back off on 429; give the account up when refused."""
    profile = PROFILES.get(victim.profession, PROFILES["pharmacy"])
    moment = ctx.world.clock.now() + dt.timedelta(seconds=first_after_s)
    while people and moment < until:
        if in_victim_hours:
            moment = in_hours(moment, profile.opens_h, profile.closes_h)
        yield moment
        person = people[0]
        answer = await agent.check(person.payload(category=profile.category,
                                                  care_date=moment.date()))
        status = ctx.record(answer, person=person, account=victim.email,
                            disclosed=disclosed(answer))
        if status == 429:
            moment = ctx.world.clock.now() + dt.timedelta(seconds=retry_after(answer))
            continue
        people.pop(0)
        if status in (401, 403, 423):
            return
        moment = ctx.world.clock.now() + dt.timedelta(
            seconds=ctx.rng.uniform(0.5 * pace_s, 1.5 * pace_s))


async def s4_low_and_slow(ctx: AttackContext, *, accounts: int = 2, pace_s: float = 600,
                          targets: int = 400, until: dt.datetime) -> AsyncIterator[dt.datetime]:
    people = ctx.identities(targets)
    yield ctx.start
    for n, victim in enumerate(ctx.victims[:accounts]):
        agent = _agent(ctx, victim, n)
        try:
            async for moment in _scrape(ctx, agent, victim, people, pace_s=pace_s,
                                        in_victim_hours=True, until=until):
                yield moment
        finally:
            await agent.close()


async def s5_distributed(ctx: AttackContext, *, accounts: int = 200, pace_s: float = 600,
                         networks: str = "each", per_account: int = 30, until: dt.datetime,
                         ) -> AsyncIterator[dt.datetime]:
    """Many hijacked accounts at once, each low and slow (a check every `pace_s` or so,
    in its practice's hours), one actor interleaving them, each with its share of the
    list; each account starts within its first pace, as a botnet's members come in.
    `networks`: all from one /24, a few /24s, or one per account (`network_address`).
    The list holds `per_account` people per account, as far as the population goes (the
    drill's 1,000 persons make about 6 per account for 200 accounts)."""
    people = ctx.identities(max(1500, per_account * accounts))
    yield ctx.start
    victims = ctx.rng.sample(ctx.victims, k=min(accounts, len(ctx.victims)))
    shares = [people[i::len(victims)] for i in range(len(victims))]
    agents = [_agent(ctx, v, n, address=ctx.remember(network_address(n, networks)))
              for n, v in enumerate(victims)]
    streams = [_scrape(ctx, a, v, s, pace_s=pace_s, in_victim_hours=True, until=until,
                       first_after_s=ctx.rng.uniform(0, pace_s))
               for a, v, s in zip(agents, victims, shares, strict=True)]
    pending: dict[int, dt.datetime] = {}
    try:
        for i, stream in enumerate(streams):
            first = await anext(stream, None)
            if first is not None:
                pending[i] = first
        while pending:
            i = min(pending, key=lambda k: pending[k])
            yield pending[i]
            following = await anext(streams[i], None)
            if following is None:
                del pending[i]
            else:
                pending[i] = following
    finally:
        for agent in agents:
            await agent.close()


# First octets of the "each" spread: public unicast ranges, none the drill's honest
# 10.x or the other attacks' 203.0.x, nor loopback, shared or link-local space.
_OCTETS = tuple(o for o in range(11, 224) if o not in (100, 127, 169, 172, 192, 198, 203))
FEW_NETWORKS = 8


def network_address(n: int, networks: str) -> str:
    """The n-th hijacked account's address: "one" /24 for all, "few" (FEW_NETWORKS
    /24s), or "each" account on its own /24, spread over unrelated /16s as a residential
    proxy pool's exits are."""
    if networks == "one":
        return f"203.0.113.{n % 250 + 1}"
    if networks == "few":
        return f"203.0.{113 + n % FEW_NETWORKS}.{n // FEW_NETWORKS % 250 + 1}"
    first = _OCTETS[n % len(_OCTETS)]
    return f"{first}.{n // len(_OCTETS) % 250 + 1}.{(n * 7) % 250}.{n % 200 + 20}"


async def s6_probing(ctx: AttackContext, *, accounts: int = 2, targets: int = 60,
                     pace_s: float = 20, until: dt.datetime) -> AsyncIterator[dt.datetime]:
    """Knows a NIR and a contract number (an old card); guesses the day of birth within
    the NIR's month and the member number's rank suffix."""
    guesses: list[Person] = []
    for person in ctx.identities(targets):
        for day in range(1, 29):
            try:
                guess_day = person.birth_date.replace(day=day)
            except ValueError:
                continue
            for rank in range(1, 4):
                guesses.append(_guess(person, guess_day, rank))
    yield ctx.start
    for n, victim in enumerate(ctx.victims[:accounts]):
        agent = _agent(ctx, victim, n)
        try:
            async for moment in _scrape(ctx, agent, victim, guesses, pace_s=pace_s,
                                        in_victim_hours=True, until=until):
                yield moment
        finally:
            await agent.close()


def _guess(person: Person, birth_date: dt.date, rank: int) -> Person:
    return replace(person, birth_date=birth_date,
                   member_number=f"{person.member_number[:-2]}{rank:02d}")


async def s9_copied_token(ctx: AttackContext, *, accounts: int = 2,
                          per_account: int = 30) -> AsyncIterator[dt.datetime]:
    """An access token read from a proxy log or memory dump, replayed from another
    machine with the attacker's own DPoP key, then as a bare bearer token."""
    people = ctx.identities(accounts * per_account)
    yield ctx.start
    for n, victim in enumerate(ctx.victims[:accounts]):
        owner = _agent(ctx, victim, 50 + n)
        thief = ctx.world.endpoint.client(address=ctx.address(300 + n), agent=SOFTWARE_AGENT)
        own_key = DpopSigner(clock=ctx.world.clock)
        try:
            await owner.ensure_token()
            token = owner.token or ""
            for i, person in enumerate(people[n * per_account:(n + 1) * per_account]):
                yield ctx.world.clock.now() + dt.timedelta(seconds=3)
                body = person.payload(category="pharmacy", care_date=ctx.start.date())
                url = ctx.world.endpoint.base_url + CHECKS_PATH
                headers = ({"authorization": f"DPoP {token}",
                            "dpop": own_key.proof("POST", url, access_token=token)}
                           if i % 2 == 0 else {"authorization": f"Bearer {token}"})
                answer = await thief.post(CHECKS_PATH, json=body, headers=headers)
                ctx.record(answer, person=person, account=victim.email,
                           disclosed=disclosed(answer))
        finally:
            await owner.close()
            await thief.aclose()
