"""The drill's person at the portal (`PortalDesk`) on the real in-process app: signing in
with password and TOTP when the session has timed out is routine, not friction; a
session ended before its time is friction, which they get past by signing in again; a
suspended account is scored as suspended."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from rempart.drill.desks import PortalDesk
from rempart.drill.scoring import LegitLog
from rempart.drill.world import build_instance, open_account


def test_friction_at_the_portal_is_scored_and_routine_sign_ins_are_not(tmp_path: Path) -> None:
    instance = build_instance(workdir=tmp_path, people=80, seed=3)
    clock = instance.runtime.clock
    try:
        optician = next(o for o in instance.organisations if o[1] == "optician")
        account = open_account(instance.auth, instance.world.clock, number=1,
                               organisation=optician)
        admin = open_account(instance.auth, instance.world.clock, number=2,
                             organisation=optician)
        person = next(p for p in instance.world.members if p.active)
        payload = person.payload(category="optical", care_date=clock.now().date())
        log = LegitLog()

        async def work() -> None:
            desk = PortalDesk(instance.world, account, address="10.2.0.1")
            try:
                first = await desk.check(payload)  # signs in first: routine
                assert (first.status, first.met) == (200, [])
                assert first.reference
                instance.auth.sessions.end_all(account_id=account.account_id, reason="drill")
                instance.world.clock.advance(60)
                cut = await desk.check(payload)  # bounced while the session should live
                assert (cut.status, cut.met) == (200, [401])
                instance.world.clock.advance(dt.timedelta(minutes=31).total_seconds())
                later = await desk.check(payload)  # idle timeout passed: routine sign-in
                assert (later.status, later.met) == (200, [])
                instance.auth.accounts.suspend(actor=instance.auth.accounts.get(
                    admin.account_id).actor, account_id=account.account_id, reason="drill")
                refused = await desk.check(payload)
                assert refused.status == 423
                assert refused.met[-1] == 423
                for outcome in (first, cut, later, refused):
                    log.met(account="a", statuses=outcome.met)
                    log.answer(account="a", status=outcome.status, covered=outcome.covered,
                               portal=True)
            finally:
                await desk.close()

        asyncio.run(work())
    finally:
        instance.close()
    score = log.score()
    assert score["portal_checks"] == 4
    assert score["accounts_with_friction"] == 1
    assert score["accounts_suspended"] == 1
