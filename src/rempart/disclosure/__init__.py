"""The disclosure seam: every answer that reveals something about a person is recorded here.

Services depend on the `DisclosureRecorder` protocol only; the implementation is the
audit log's (`rempart.audit.recorder.AuditDisclosureRecorder`), which writes each
disclosure as a hash-chained entry in the caller's transaction.
"""

from rempart.disclosure.recorder import (
    Disclosure,
    DisclosureEvent,
    DisclosureRecorder,
    Requester,
)

__all__ = [
    "Disclosure",
    "DisclosureEvent",
    "DisclosureRecorder",
    "Requester",
]
