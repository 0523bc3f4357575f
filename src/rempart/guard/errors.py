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
