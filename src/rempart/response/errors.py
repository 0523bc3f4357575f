"""Breach-response errors. Messages name files, positions and fields, never personal values."""

from __future__ import annotations

from rempart.core.errors import RempartError


class ResponseError(RempartError):
    """Base of breach-response errors."""


class InvalidScope(ResponseError):
    """A scope's content is inconsistent; `where` names the field at fault (never its value)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class ScopeFileError(ResponseError):
    """A scope file is unreadable, malformed, truncated or inconsistent; nothing was written."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"scope file {source}: {reason}")
        self.source = source
        self.reason = reason


class OutputNotEmpty(ResponseError):
    """The output directory already holds something: a report never overwrites another."""


class DetectionInFuture(ResponseError):
    """The scope's detection time is later than now: the clock or the scope is wrong."""


class DirectoryUnavailable(ResponseError):
    """No person directory is available to address the letters."""


class PersonNotInDirectory(ResponseError):
    """A person of the scope is unknown to the directory, or filed under another insurer."""

    def __init__(self, person_id: int, reason: str) -> None:
        super().__init__(f"person id {person_id}: {reason}")
        self.person_id = person_id
