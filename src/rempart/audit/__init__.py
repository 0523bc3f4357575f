"""The tamper-evident audit log: every disclosure and security event, hash-chained, with
Ed25519-signed Merkle checkpoints, verification, export and retention.

Append with `AuditLog`, sign with `Checkpointer`, check with `Verifier` (or
`verify_archive` for an archive file), copy checkpoints out with `export_to_file` or
`WebhookExporter`, and move old entries out with `Archiver`. See docs/audit.md.
"""

from rempart.audit.archive import Archiver, verify_archive
from rempart.audit.checkpoints import Checkpointer
from rempart.audit.errors import (
    ArchiveRefused,
    AuditError,
    AuditFileError,
    AuditLogClosed,
    AuditSchemaMissing,
    AuditWriteFailed,
    CheckpointRefused,
    ConcurrentAuditChange,
    ExportConflict,
    InvalidAuditRecord,
    SigningKeyError,
    WebhookFailed,
)
from rempart.audit.export import WebhookExporter, export_to_file, read_checkpoint_file
from rempart.audit.records import AuditRecord, DetailValue
from rempart.audit.report import Problem, VerificationReport
from rempart.audit.service import AuditLog, AuditReceipt
from rempart.audit.signing import SigningKey, TrustedKeys, VerifyKey
from rempart.audit.statements import ArchiveSeal, Checkpoint
from rempart.audit.verify import Verifier

__all__ = [
    "ArchiveRefused", "ArchiveSeal", "Archiver", "AuditError", "AuditFileError", "AuditLog",
    "AuditLogClosed", "AuditReceipt", "AuditRecord", "AuditSchemaMissing", "AuditWriteFailed",
    "Checkpoint", "CheckpointRefused", "Checkpointer", "ConcurrentAuditChange", "DetailValue",
    "ExportConflict", "InvalidAuditRecord", "Problem", "SigningKey", "SigningKeyError",
    "TrustedKeys", "VerificationReport", "Verifier", "VerifyKey", "WebhookExporter",
    "WebhookFailed", "export_to_file", "read_checkpoint_file", "verify_archive",
]
