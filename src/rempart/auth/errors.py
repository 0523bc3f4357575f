"""Authentication errors. The edges turn them into HTTP answers and exit codes.

Messages are safe to show and to log: they never carry a login, a password, a code, a
token or any other secret, and never say whether an account exists.
"""

from __future__ import annotations

from rempart.core.errors import RempartError


class AuthError(RempartError):
    """Base of authentication and authorisation errors."""


class InvalidCredentials(AuthError):
    """Wrong login or password: one answer for both, so accounts cannot be enumerated."""

    def __init__(self) -> None:
        super().__init__("login or password incorrect")


class LoginThrottled(AuthError):
    """Too many recent failures: try again after a bounded delay (never a lockout)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"too many attempts: try again in {self.retry_after} s")


class LoginUnavailable(AuthError):
    """The login throttle's shared storage (Redis) did not answer: logins are refused
    until it does, since an attempt that cannot be counted could be repeated without
    limit (fail closed)."""

    retry_after = 5

    def __init__(self) -> None:
        super().__init__("sign-in is unavailable for a moment: try again in a few seconds")


class ReplayCheckUnavailable(AuthError):
    """The DPoP replay store's shared storage (Redis) did not answer: API requests are
    refused until it does, since a proof whose single use cannot be recorded could be
    replayed (fail closed)."""

    retry_after = 5

    def __init__(self) -> None:
        super().__init__("API authentication is unavailable for a moment: "
                         "try again in a few seconds")


class AccountSuspended(AuthError):
    def __init__(self) -> None:
        super().__init__("this account is suspended: contact your organisation's administrator")


class WeakPassword(AuthError):
    """A new password refused by the policy; `reason` is a stable code for the edges."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class InvalidSecondFactor(AuthError):
    """A TOTP code, recovery code or passkey assertion that is wrong, reused or expired."""

    def __init__(self, method: str, reason: str = "not accepted") -> None:
        self.method = method
        self.reason = reason
        super().__init__(f"{method}: {reason}")


class SecondFactorRequired(AuthError):
    """The session has not passed a second factor (or must pass one again)."""

    def __init__(self, message: str = "a second factor is required") -> None:
        super().__init__(message)


class PasskeyRequired(SecondFactorRequired):
    """Only a passkey will do: an operator account, or a passkey holder's step-up."""

    def __init__(self, message: str = "operator accounts must use a passkey") -> None:
        super().__init__(message)


class FactorChangeNeedsPasskey(PasskeyRequired):
    """A passkey holder's session whose second factor was not the passkey (TOTP or a
    recovery code: perhaps phished) may not add, replace or renew a factor."""

    def __init__(self) -> None:
        super().__init__(
            "this account has a passkey: adding or changing a second factor needs it. "
            "Confirm with your passkey; if you lost it, ask your organisation's "
            "administrator to remove it, then sign in and create a new one")


class StepUpRequired(SecondFactorRequired):
    """The session is valid but its client changed: prove a second factor again."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"step-up required: {reason}")


class SessionInvalid(AuthError):
    """No such session, ended, expired, or presented by another client."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"session not valid: {reason}")


class NotPermitted(AuthError):
    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"not permitted: {action}")


class InvitationInvalid(AuthError):
    """Unknown, used or expired invitation: one answer for the three."""

    def __init__(self) -> None:
        super().__init__("this invitation is not valid (unknown, already used or expired)")


class AccountConflict(AuthError):
    def __init__(self) -> None:
        super().__init__("an account with this login already exists")


class NotFound(AuthError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class InvalidInput(AuthError):
    """A malformed or oversized field; the message names the field, never its value."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ClientAuthFailed(AuthError):
    """OAuth client authentication failed (RFC 6749 `invalid_client`)."""

    def __init__(self) -> None:
        super().__init__("invalid_client: client authentication failed")


class InvalidDpopProof(AuthError):
    """RFC 9449 `invalid_dpop_proof`; the reason names the failed check."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid_dpop_proof: {reason}")


class InvalidAccessToken(AuthError):
    """RFC 6750 `invalid_token`; the reason names the failed check."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid_token: {reason}")


class NotInMemory(Exception):
    """An answer asked of memory alone (`in_memory=True`) needs a read it may not make.

    Not an AuthError and never an answer: the caller (the DPoP check on the event loop)
    asks again in a worker thread, where the read is allowed. Raised before anything is
    recorded (a proof's replay entry, a security event), so asking again is safe."""


class RevocationPollDue(NotInMemory):
    """NotInMemory because the clients' revocation poll is due: the caller may wait for
    the poll (made in the background) and ask memory again."""
