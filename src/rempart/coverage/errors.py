"""Domain errors of checks and claims. They name fields, never the values submitted."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.core.errors import RempartError


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str


class InvalidRequest(RempartError):
    """The request is malformed; every offending field is named with a reason."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("invalid request: " + ", ".join(e.field for e in errors))
        self.errors = tuple(errors)


class UnknownReference(RempartError):
    """No such check or claim for this organisation.

    Raised alike for a reference that does not exist and for another organisation's,
    so that the two cannot be told apart.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown {kind} reference")
        self.kind = kind


class InvalidTransition(RempartError):
    """A claim cannot move from its status to the one asked for."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a claim cannot go from {current} to {target}")
        self.current = current
        self.target = target
