"""Audit errors. Messages name positions, checkpoint numbers, files and fields, never values."""

from __future__ import annotations

from rempart.core.errors import RempartError


class AuditError(RempartError):
    """Base of audit-log errors."""


class InvalidAuditRecord(AuditError):
    """An entry to append is malformed; nothing was written."""


class AuditWriteFailed(AuditError):
    """The entry could not be made durable: the disclosure it records must not go ahead."""


class AuditLogClosed(AuditError):
    """The log was closed; it takes no more entries."""


class AuditSchemaMissing(AuditError):
    """The database has no audit tables (or no head row)."""


class SigningKeyError(AuditError):
    """The checkpoint signing key is missing, unreadable, malformed or too widely readable."""


class CheckpointRefused(AuditError):
    """The range to sign does not verify: signing it would launder a tampered log."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"not signing a checkpoint: first bad position {position}: {reason}")
        self.position = position


class ConcurrentAuditChange(AuditError):
    """Another process checkpointed or archived at the same moment; run the command again."""


class AuditFileError(AuditError):
    """An exported checkpoint file or an archive file cannot be read or is malformed."""


class ExportConflict(AuditError):
    """An exported copy disagrees with the database; run `rempart audit verify --against`."""


class WebhookFailed(AuditError):
    """The checkpoint webhook did not accept the checkpoints after every retry."""


class ArchiveRefused(AuditError):
    """The range to archive does not verify, or nothing is old enough and checkpointed."""
