"""Guard errors. The edges turn them into answers; messages carry ids, never personal data."""

from __future__ import annotations

from rempart.core.errors import RempartError


class GuardError(RempartError):
    """Base of exfiltration-guard errors."""


class GuardUnavailable(GuardError):
    """The guard's shared state (Redis) cannot be reached.

    Disclosure fails closed: the edge answers 503 and discloses nothing, because a
    check the guard cannot count is a check an attacker could repeat without limit.
    """

    def __init__(self, operation: str) -> None:
        super().__init__(f"exfiltration guard unavailable during {operation}: "
                         "the check is refused until its state store answers")
        self.operation = operation


class GuardConfigError(GuardError):
    """The guard's configuration is malformed (names the setting, not secrets)."""


class InvalidCheckContext(GuardError):
    """A check context or lookup outcome the guard cannot judge (names the field only)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid {field}: {reason}")
        self.field = field
        self.reason = reason


class CheckWithheld(GuardError):
    """The guard withheld a check's answer: slow down, step up, session or account
    suspended (`action`, a rung of the containment ladder). The message and what the
    edge answers name the rung only, never the reasons: a reason such as "the same
    person nearly matched twice" would tell the caller that the person exists."""

    def __init__(self, action: int, *, retry_after_s: int = 0,
                 api_key: tuple[str, str] | None = None) -> None:
        super().__init__("the answer is withheld by the exfiltration guard")
        self.action = action
        self.retry_after_s = retry_after_s
        # For an API client's step-up: (client id, DPoP key thumbprint), so that the
        # edge can hand it a code a user of its organisation confirms. Never a reason.
        self.api_key = api_key
