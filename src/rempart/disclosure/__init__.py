"""The disclosure seam: every answer that reveals something about a person is recorded here.

Services depend on the `DisclosureRecorder` protocol only; the database implementation
writes plain rows, and the audit-log issue will put a hash-chained one behind the same
protocol.
"""

from rempart.disclosure.recorder import (
    Disclosure,
    DisclosureEvent,
    DisclosureRecorder,
    Requester,
)
from rempart.disclosure.store import DatabaseDisclosureRecorder

__all__ = [
    "DatabaseDisclosureRecorder",
    "Disclosure",
    "DisclosureEvent",
    "DisclosureRecorder",
    "Requester",
]
