"""A recorder that records nothing: the benchmark's "audit log off" side, and nothing else.

It exists so that `rempart bench checks --audit-off` can measure what the audit log
costs a check, in the same run. The app factory uses it only when the bench endpoints
are on (an explicit setting) and REMPART_BENCH_AUDIT=off is set as well: a served
instance always records every disclosure.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from rempart.disclosure import Disclosure


class UnrecordedForBenchmark:
    """Satisfies `rempart.disclosure.DisclosureRecorder`; writes nothing."""

    def record(self, connection: Connection, disclosures: Sequence[Disclosure]) -> None:
        return None
