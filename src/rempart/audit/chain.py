"""Walking a chain of stored entries against its anchor and its signed checkpoints.

The same walk verifies the live database and an archive file. A problem is pinned to the
earliest position that explains it: a changed row at its own position; a deleted row at
the first missing position; an inserted or moved row where the next row links past it; a
range rewritten with recomputed hashes at the start of the checkpoint that no longer
matches (only reported when no single row in that range already explains it).
"""

from __future__ import annotations

from collections.abc import Sequence

from rempart.audit.hashing import chain_hash, merkle_root
from rempart.audit.report import Problem
from rempart.audit.signing import TrustedKeys
from rempart.audit.statements import Checkpoint
from rempart.audit.store import MalformedEntry, StoredEntry, is_hash


def check_sequence(checkpoints: Sequence[Checkpoint], trusted: TrustedKeys, *,
                   first_position: int = 1, first_number: int | None = 1,
                   ) -> tuple[list[Checkpoint], list[Problem]]:
    """Checkpoints must tile the positions from first_position with no gap or overlap,
    numbered consecutively, each with a valid signature. Returns the trustworthy ones."""
    valid: list[Checkpoint] = []
    problems: list[Problem] = []
    expected_first = first_position
    expected_number = first_number
    for cp in sorted(checkpoints, key=lambda c: c.number):
        if cp.first > expected_first:
            problems.append(Problem(expected_first, f"the checkpoint covering positions "
                                    f"{expected_first}..{cp.first - 1} is missing"))
        elif cp.first < expected_first:
            problems.append(Problem(cp.first, f"checkpoint {cp.number} overlaps the one "
                                    "before it"))
        elif expected_number is not None and cp.number != expected_number:
            problems.append(Problem(cp.first, f"checkpoint {expected_number} is missing "
                                    f"(numbering jumps to {cp.number})"))
        if cp.last < cp.first:
            problems.append(Problem(cp.first, f"checkpoint {cp.number} covers no position"))
        reason = trusted.problem_with(cp.key_id, cp.statement(), cp.signature)
        if reason:
            problems.append(Problem(cp.first, f"checkpoint {cp.number} {reason}"))
        elif cp.last >= cp.first:
            valid.append(cp)
        expected_first = max(expected_first, cp.last + 1)
        expected_number = cp.number + 1
    return valid, problems


class ChainChecker:
    """Feed entries in position order from `start`; read `problems()` after `finish()`."""

    def __init__(self, *, start: int, anchor_hash: bytes | None,
                 checkpoints: Sequence[Checkpoint]) -> None:
        self._next = start
        self._prev: bytes | None = anchor_hash  # None: unknown, the first link is not checked
        self._prev_prev: bytes | None = None
        self._pending = sorted((c for c in checkpoints if c.first >= start),
                               key=lambda c: c.first)
        self._leaves: list[bytes] = []
        self._range_complete = True
        self._entry_problems: list[Problem] = []
        self._range_problems: list[tuple[Checkpoint, Problem]] = []
        self.entries = 0
        self.checkpoints_checked = 0

    @property
    def last_hash(self) -> bytes | None:
        """The stored hash of the last entry fed (the anchor before any)."""
        return self._prev

    @property
    def next_position(self) -> int:
        return self._next

    def feed(self, entry: StoredEntry) -> bytes | None:
        """Check one entry; return its leaf hash, or None when it cannot be recomputed."""
        position = entry.position
        if position < self._next:
            self._problem(position, f"entry {position} appears again, out of order")
            self._prev = self._prev_prev = None
        elif position > self._next:
            self._problem(self._next, f"entries {self._next}..{position - 1} are missing "
                                      "(deleted)")
            self._prev = self._prev_prev = None
        leaf = self._leaf(entry)
        if self._prev is not None and entry.prev_hash != self._prev:
            if self._prev_prev is not None and entry.prev_hash == self._prev_prev:
                self._problem(position - 1, f"entry {position - 1} is out of place (inserted "
                                            f"or moved): entry {position} links past it")
            else:
                self._problem(position, f"entry {position} does not link to the entry before "
                                        "it (changed, inserted, deleted or reordered)")
        if leaf is not None and chain_hash(entry.prev_hash, leaf) != entry.entry_hash:
            self._problem(position, f"entry {position} does not match its hash (changed or "
                                    "reordered)")
            leaf_ok = False
        else:
            leaf_ok = leaf is not None
        self._prev_prev = self._prev
        self._prev = entry.entry_hash if is_hash(entry.entry_hash) else None
        self._next = position + 1
        self.entries += 1
        self._collect(position, leaf if leaf_ok else None, entry.entry_hash)
        return leaf

    def finish(self, *, end: int) -> None:
        """The chain should have ended at `end`; checkpoints past the last entry are cut."""
        if self._next <= end:
            self._problem(self._next, f"entries {self._next}..{end} are missing (deleted)")
        for cp in self._pending:
            position = max(self._next, cp.first)
            self._problem(position, f"checkpoint {cp.number} covers positions up to {cp.last} "
                                    f"but the log has nothing from position {position} "
                                    "(entries deleted)")
        self._pending = []

    def problems(self) -> list[Problem]:
        found = list(self._entry_problems)
        for cp, problem in self._range_problems:
            if not any(cp.first <= p.position <= cp.last for p in self._entry_problems):
                found.append(problem)
        return sorted(found)

    # -- internals -----------------------------------------------------------

    def _problem(self, position: int, message: str) -> None:
        self._entry_problems.append(Problem(position, message))

    def _leaf(self, entry: StoredEntry) -> bytes | None:
        if not (is_hash(entry.prev_hash) and is_hash(entry.entry_hash)):
            self._problem(entry.position, f"entry {entry.position} has malformed hashes")
            return None
        try:
            return entry.leaf()
        except MalformedEntry as exc:
            self._problem(entry.position, f"entry {entry.position} is malformed ({exc})")
            return None

    def _collect(self, position: int, leaf: bytes | None, entry_hash: object) -> None:
        while self._pending and self._pending[0].last < position:
            self._pending.pop(0)  # passed over by a gap, already reported
            self._leaves, self._range_complete = [], True
        if not self._pending or position < self._pending[0].first:
            return
        cp = self._pending[0]
        if leaf is None or position - cp.first != len(self._leaves):
            self._range_complete = False
        if leaf is not None:
            self._leaves.append(leaf)
        if position < cp.last:
            return
        self.checkpoints_checked += 1
        if self._range_complete and (merkle_root(self._leaves) != cp.root
                                     or entry_hash != cp.last_entry_hash):
            self._range_problems.append((cp, Problem(
                cp.first, f"entries {cp.first}..{cp.last} do not match signed checkpoint "
                          f"{cp.number} (rewritten with recomputed hashes)")))
        self._pending.pop(0)
        self._leaves, self._range_complete = [], True
