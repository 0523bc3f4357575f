"""The containment ladder's rungs and the decision the guard hands back to the edge."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Action(enum.IntEnum):
    """Ordered: a higher rung contains more. Only ALLOW lets an answer leave."""

    ALLOW = 0
    # Refuse this check; the caller may retry after `delay_s` (HTTP 429 + Retry-After).
    SLOW_DOWN = 1
    # Refuse until the user proves presence with a fresh second factor (a passkey
    # where the account has one); then call Guard.on_step_up.
    STEP_UP = 2
    # End this session; the account may log in again (with its second factor).
    SUSPEND_SESSION = 3
    # Lock the account until an operator restores it; an alert is raised.
    SUSPEND_ACCOUNT = 4


@dataclass(frozen=True, slots=True)
class Evidence:
    """One feature's contribution: surprisal in bits under the honest model, and why."""

    feature: str
    bits: float
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0
    delay_s: float = 0.0
    evidence: tuple[Evidence, ...] = ()

    @property
    def discloses(self) -> bool:
        """Whether the answer may leave. Every other rung withholds it."""
        return self.action is Action.ALLOW


# The answer to nearly every check, shared: nobody changes a decision once made.
ALLOW = Decision(Action.ALLOW)
