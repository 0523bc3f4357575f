"""Signing checkpoints: a Merkle root over each new range of the chain.

A checkpoint is only signed over a range that verifies from the previous checkpoint's
chain hash: signing a tampered range would make the tampering look legitimate. Ranges
hold at most `max_entries` positions, so a rewritten range is narrowed down to that
many entries. Run it often (a timer every minute, say): entries after the latest
exported checkpoint are protected by the chain alone.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.exc import IntegrityError

from rempart.audit.chain import ChainChecker
from rempart.audit.errors import CheckpointRefused, ConcurrentAuditChange
from rempart.audit.hashing import GENESIS_HASH, merkle_root
from rempart.audit.models import AuditCheckpoint
from rempart.audit.records import to_micros
from rempart.audit.signing import SigningKey, TrustedKeys
from rempart.audit.statements import Checkpoint
from rempart.audit.store import (
    CHECKPOINT_SQL,
    iter_entries,
    raw_bytes,
    read_head,
    require_schema,
)
from rempart.clock import Clock

DEFAULT_MAX_ENTRIES = 10_000
LATEST_CHECKPOINT_SQL = CHECKPOINT_SQL.replace("ORDER BY number", "ORDER BY number DESC LIMIT 1")


class Checkpointer:
    def __init__(self, *, engine: Engine, clock: Clock, signing_key: SigningKey,
                 trusted_keys: TrustedKeys | None = None,
                 max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._engine = engine
        self._clock = clock
        self._key = signing_key
        self._trusted = trusted_keys or TrustedKeys([signing_key.verify_key])
        self._max_entries = max_entries

    def latest(self) -> Checkpoint | None:
        with self._engine.connect() as conn:
            return self._latest(conn)

    def checkpoint(self, *, on_progress: Callable[[int], None] | None = None,
                   ) -> list[Checkpoint]:
        """Sign every whole new range up to the current head; [] when nothing is new."""
        require_schema(self._engine)
        with self._engine.connect() as conn:
            head = read_head(conn)
            previous = self._latest(conn)
            if previous is not None:
                reason = self._trusted.problem_with(previous.key_id, previous.statement(),
                                                    previous.signature)
                if reason:
                    raise CheckpointRefused(previous.first,
                                            f"the latest checkpoint {previous.number} {reason}")
            start = previous.last + 1 if previous else 1
            anchor = previous.last_entry_hash if previous else GENESIS_HASH
            number = previous.number + 1 if previous else 1
            if head.position < start:
                return []
            checker = ChainChecker(start=start, anchor_hash=anchor, checkpoints=())
            made: list[Checkpoint] = []
            leaves: list[bytes] = []
            for entry in iter_entries(conn, after=start - 1, through=head.position):
                leaf = checker.feed(entry)
                self._refuse_if_broken(checker)
                if leaf is None:  # unreachable after the check above; keeps types honest
                    raise CheckpointRefused(entry.position, "entry cannot be hashed")
                leaves.append(leaf)
                if len(leaves) == self._max_entries or entry.position == head.position:
                    made.append(self._sign(number, entry.position - len(leaves) + 1,
                                           entry.position, leaves, entry.entry_hash))
                    number += 1
                    leaves = []
                    if on_progress:
                        on_progress(made[-1].last - made[-1].first + 1)
            checker.finish(end=head.position)
            self._refuse_if_broken(checker)
        self._store(made)
        return made

    def _sign(self, number: int, first: int, last: int, leaves: list[bytes],
              last_hash: bytes) -> Checkpoint:
        return Checkpoint(number=number, first=first, last=last, root=merkle_root(leaves),
                          last_entry_hash=last_hash,
                          created_at_us=to_micros(self._clock.now())).signed(self._key)

    @staticmethod
    def _refuse_if_broken(checker: ChainChecker) -> None:
        problems = checker.problems()
        if problems:
            raise CheckpointRefused(problems[0].position, problems[0].message)

    @staticmethod
    def _latest(conn: Connection) -> Checkpoint | None:
        rows = list(conn.execute(text(LATEST_CHECKPOINT_SQL)))
        if not rows:
            return None
        try:
            return Checkpoint.from_row(tuple(raw_bytes(v) for v in rows[0]))
        except ValueError as exc:
            raise CheckpointRefused(1, f"the latest checkpoint row is malformed ({exc})") from None

    def _store(self, made: list[Checkpoint]) -> None:
        if not made:
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(AuditCheckpoint), [
                    {"number": cp.number, "first_position": cp.first, "last_position": cp.last,
                     "root": cp.root, "last_entry_hash": cp.last_entry_hash,
                     "created_at_us": cp.created_at_us, "key_id": cp.key_id,
                     "signature": cp.signature} for cp in made])
        except IntegrityError:
            raise ConcurrentAuditChange("another checkpoint was written at the same time; "
                                        "run the command again") from None
