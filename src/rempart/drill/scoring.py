"""Scores kept outside the application: what reached the attacker, and when it stopped.

Detection is the first answer that turned the attacker away or slowed it (401/403 after
it had got in, 429, a step-up); containment is the moment after which the attacker got
no more answers, if the attack ended that way.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REFUSALS = frozenset({401, 403, 423, 429})


@dataclass
class AttackLog:
    """One scenario's ground truth: every attacker request and what it yielded."""

    started: dt.datetime | None = None
    attempted: set[str] = field(default_factory=set)
    disclosed: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    detected_at: dt.datetime | None = None
    last_answer_at: dt.datetime | None = None
    last_refusal_at: dt.datetime | None = None
    ended: dt.datetime | None = None
    timeline: list[tuple[float, int]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def request(self, *, at: dt.datetime, account: str | None) -> None:
        if self.started is None:
            self.started = at
        if account is not None:
            self.accounts.add(account)
        self.ended = at

    def outcome(self, *, at: dt.datetime, person: str | None, status: int,
                disclosed: bool) -> None:
        """Record one answer; `person` is the ground-truth key of the targeted identity."""
        self.statuses[status] += 1
        if person is not None:
            self.attempted.add(person)
        if disclosed and person is not None:
            self.disclosed.add(person)
            self.last_answer_at = at
        elif status in REFUSALS:
            if self.detected_at is None:
                self.detected_at = at
            self.last_refusal_at = at
        self.timeline.append((self.seconds(at) or 0.0, len(self.disclosed)))

    def seconds(self, at: dt.datetime | None) -> float | None:
        if at is None or self.started is None:
            return None
        return round((at - self.started).total_seconds(), 1)

    def contained_at(self) -> dt.datetime | None:
        """Contained if the attack's last answers were refusals and no data came after."""
        if self.last_refusal_at is None:
            return None
        if self.last_answer_at is not None and self.last_answer_at >= self.last_refusal_at:
            return None
        if self.last_answer_at is None:
            return self.started
        return self.last_answer_at

    def score(self) -> dict[str, Any]:
        return {
            "records_disclosed": len(self.disclosed),
            "records_attempted": len(self.attempted),
            "accounts_used": len(self.accounts),
            "records_per_account": (round(len(self.disclosed) / len(self.accounts), 2)
                                    if self.accounts else None),
            "time_to_detect_s": self.seconds(self.detected_at),
            "time_to_contain_s": self.seconds(self.contained_at()),
            "answers_by_status": {str(k): v for k, v in sorted(self.statuses.items())},
        }


@dataclass
class LegitLog:
    """Honest providers: how many checks they made and who met friction."""

    accounts: set[str] = field(default_factory=set)
    portal_accounts: set[str] = field(default_factory=set)
    checks: int = 0
    portal_checks: int = 0
    portal_sign_ins: int = 0
    claims: int = 0
    friction: set[str] = field(default_factory=set)
    suspended: set[str] = field(default_factory=set)
    covered: int = 0
    claims_accepted: int = 0

    def answer(self, *, account: str, status: int, covered: bool, portal: bool = False) -> None:
        self.accounts.add(account)
        self.covered += covered
        self.checks += 1
        if portal:
            self.portal_accounts.add(account)
            self.portal_checks += 1
        self.met(account=account, statuses=[status])

    def met(self, *, account: str, statuses: list[int]) -> None:
        """Refusals met on the way to an answer (a step-up page, a wait) count as friction."""
        for status in statuses:
            if status in REFUSALS:
                self.friction.add(account)
            if status == 423:
                self.suspended.add(account)

    def claim(self, *, account: str, status: int) -> None:
        self.claims += 1
        if status in REFUSALS:
            self.friction.add(account)
        if 200 <= status < 300:
            self.claims_accepted += 1

    def score(self) -> dict[str, Any]:
        count = len(self.accounts)
        return {
            "accounts": count,
            "checks": self.checks,
            "portal_accounts": len(self.portal_accounts),
            "portal_checks": self.portal_checks,
            "portal_sign_ins": self.portal_sign_ins,
            "covered_answers": self.covered,
            "claims": self.claims,
            "claims_answered_2xx": self.claims_accepted,
            "accounts_with_friction": len(self.friction),
            "portal_accounts_with_friction": len(self.friction & self.portal_accounts),
            "friction_rate": round(len(self.friction) / count, 4) if count else 0.0,
            "accounts_suspended": len(self.suspended),
        }
