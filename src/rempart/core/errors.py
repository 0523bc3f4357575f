"""Base domain exceptions; the HTTP and CLI edges turn them into answers."""

from __future__ import annotations


class RempartError(Exception):
    """Base of every domain error. Messages never carry personal data."""


class ConfigurationError(RempartError):
    """A setting has a value the service cannot run with; the message names the setting."""


class InvalidIdentifier(RempartError):
    """An identifier failed its format or check-digit validation."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"invalid {kind}: {reason}")
        self.kind = kind
        self.reason = reason
