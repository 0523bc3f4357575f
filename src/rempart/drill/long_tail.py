"""The long tail of a national platform: hundreds of solo practices (nurses,
physiotherapists, hearing-aid centres) with a few checks a day each, through their
practice software. Scenario S5's instance gets them so that its attacker can hijack
hundreds of accounts that have a history of their own, as the threat model says.

The synthetic population has only a couple of organisations per profession at the
drill's scale (its counts follow France's, scaled down), and a hundred accounts sharing
one organisation would meet the guard's per-organisation ceilings together: each
practice gets its own organisation row, in the département of a person drawn from the
population (practices are where people live), each its own network.
"""

from __future__ import annotations

import random

from sqlalchemy import insert, select

from rempart.clock import ManualClock
from rempart.core.identifiers import build_siret
from rempart.drill.profiles import LONG_TAIL_PROFESSIONS
from rempart.drill.world import Account, Instance, open_account
from rempart.providers.models import Organisation

# Account numbers after the main accounts' (`--accounts` is at most 500).
FIRST_NUMBER = 1001
# SIREN bodies of the long tail's organisations: a range the synthetic directory's
# scrambled numbers may also hit, so taken numbers are skipped.
SIREN_BASE = 90_000_000


def long_tail_size(hijacked: int) -> int:
    """Practices in the long tail for an attack on `hijacked` accounts: enough for the
    attacker, and a fifth of them left alone, bystanders beside the campaign."""
    return hijacked + hijacked // 4


def add_long_tail(instance: Instance, *, count: int, rng: random.Random) -> list[Account]:
    """Make `count` solo practices, each an organisation with one admin account and an
    API client (as `open_account` makes the main ones)."""
    if count <= 0:
        return []
    departements = [p.departement for p in instance.world.members]
    engine = instance.runtime.engine
    with engine.begin() as conn:
        taken = set(conn.scalars(select(Organisation.siret)))
        rows = []
        body = SIREN_BASE
        for n in range(count):
            siret = build_siret(siren_body=body, establishment=1)
            while siret in taken:
                body += 1
                siret = build_siret(siren_body=body, establishment=1)
            body += 1
            departement = rng.choice(departements)
            profession = LONG_TAIL_PROFESSIONS[n % len(LONG_TAIL_PROFESSIONS)]
            rows.append({"siret": siret, "finess": None, "name": f"Cabinet {n + 1}",
                         "profession": profession, "departement": departement,
                         "postcode": _postcode(departement)})
        ids = [int(i) for i in conn.scalars(insert(Organisation).returning(Organisation.id),
                                            rows)]
    # Each account's TOTP code is used once here, so one step forward for all: a step per
    # account (open_account's default) would start the honest day hours late, and each
    # desk would then make every check of its missed morning in one burst.
    accounts = [open_account(instance.auth, instance.world.clock, number=FIRST_NUMBER + n,
                             organisation=(org_id, str(row["profession"]),
                                           str(row["departement"])), next_step=False)
                for n, (org_id, row) in enumerate(zip(ids, rows, strict=True))]
    clock = instance.world.clock
    if isinstance(clock, ManualClock):
        clock.advance(31)
    return accounts


def long_tail_address(n: int) -> str:
    """The n-th solo practice's address: each practice on its own network (/24)."""
    return f"10.{3 + n // 250}.{n % 250}.10"


def _postcode(departement: str) -> str:
    """A postcode of the département (its chief town's pattern): 75 -> 75000, 971 ->
    97100, 2A -> 20000."""
    if departement in ("2A", "2B"):
        return "20000"
    return (departement + "000")[:5]
