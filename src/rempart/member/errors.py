"""Errors of the member view. Messages name what is wrong with a link, never its content."""

from __future__ import annotations

from rempart.core.errors import RempartError


class MemberError(RempartError):
    """Base of the member view's errors."""


class InvalidMemberLink(MemberError):
    """The link cannot open a history. `code` says why, for the audit log and the tests;
    the person is told the same thing whatever the reason."""

    code = "invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(f"member link refused ({self.code}): {reason}")
        self.reason = reason


class MalformedLink(InvalidMemberLink):
    code = "malformed"


class UnknownLinkKey(InvalidMemberLink):
    code = "unknown_key"


class ForgedLink(InvalidMemberLink):
    code = "forged"


class ExpiredLink(InvalidMemberLink):
    code = "expired"


class ReplayedLink(InvalidMemberLink):
    code = "replayed"


class UnknownMember(InvalidMemberLink):
    code = "unknown_member"


class MemberSessionExpired(MemberError):
    """No valid member session: the page must be opened again from the insurer's site."""


class UnknownCheck(MemberError):
    """The check reported is not one of the person's own checks."""


class InsurerKeyError(MemberError):
    """An insurer link key cannot be added, read or revoked."""
