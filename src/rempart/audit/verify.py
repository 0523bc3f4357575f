"""Verifying the live audit log: archive seals, checkpoints, every entry, the head.

Reads one consistent snapshot and changes nothing. Entries archived away are vouched
for by their signed seal (the chain resumes from the sealed hash); everything still in
the database is recomputed. With an exported copy of the checkpoints, a checkpoint
deleted from the database (with the entries after it) is caught as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, text

from rempart.audit.chain import ChainChecker, check_sequence
from rempart.audit.hashing import GENESIS_HASH
from rempart.audit.report import Problem, VerificationReport
from rempart.audit.signing import TrustedKeys
from rempart.audit.statements import ArchiveSeal, Checkpoint
from rempart.audit.store import (
    iter_entries,
    read_checkpoints,
    read_head,
    read_seals,
    read_snapshot,
    require_schema,
)


class Verifier:
    def __init__(self, *, engine: Engine, trusted_keys: TrustedKeys) -> None:
        self._engine = engine
        self._trusted = trusted_keys

    def verify(self, *, exported: Sequence[Checkpoint] | None = None,
               on_progress: Callable[[int], None] | None = None) -> VerificationReport:
        require_schema(self._engine)
        with read_snapshot(self._engine) as conn:
            seals, broken_seals = read_seals(conn)
            checkpoints, broken_checkpoints = read_checkpoints(conn)
            head = read_head(conn)
            archived = head.archived_through
            problems = [Problem(p, m) for p, m in broken_seals + broken_checkpoints]
            anchor, seal_problems = self._anchor(seals, archived)
            problems += seal_problems
            valid, sequence_problems = check_sequence(checkpoints, self._trusted)
            problems += sequence_problems
            problems += _boundary_problems(checkpoints, archived, anchor)
            checker = ChainChecker(start=archived + 1, anchor_hash=anchor,
                                   checkpoints=[c for c in valid if c.first > archived])
            for count, entry in enumerate(iter_entries(conn, after=archived,
                                                       through=head.position), 1):
                checker.feed(entry)
                if on_progress and count % 10_000 == 0:
                    on_progress(10_000)
            checker.finish(end=head.position)
            problems += checker.problems()
            if checker.next_position > head.position and checker.last_hash != head.entry_hash:
                problems.append(Problem(head.position, "the head row does not match the last "
                                                       "entry (head or last entry altered)"))
            problems += _stray_rows(conn, archived, head.position)
        if exported is not None:
            problems += _against_copy(checkpoints, exported)
        return VerificationReport(problems=sorted(problems), entries_checked=checker.entries,
                                  checkpoints_checked=checker.checkpoints_checked,
                                  first_position=archived + 1, last_position=head.position)

    def _anchor(self, seals: list[ArchiveSeal], archived: int,
                ) -> tuple[bytes | None, list[Problem]]:
        """The chain hash the live entries resume from, proven by the last archive seal."""
        problems: list[Problem] = []
        expected_first, anchor = 1, GENESIS_HASH if archived == 0 else None
        for number, seal in enumerate(sorted(seals, key=lambda s: s.number), 1):
            if seal.number != number or seal.first != expected_first:
                problems.append(Problem(expected_first, f"archive seal {number} is missing or "
                                                        "out of sequence"))
            reason = self._trusted.problem_with(seal.key_id, seal.statement(), seal.signature)
            if reason:
                problems.append(Problem(seal.first, f"archive seal {seal.number} {reason}"))
            elif seal.last == archived:
                anchor = seal.last_entry_hash
            expected_first = seal.last + 1
        if expected_first != archived + 1:
            problems.append(Problem(min(expected_first, archived + 1),
                                    f"the head says positions 1..{archived} were archived but "
                                    f"the signed archive seals cover 1..{expected_first - 1}"))
        return anchor, problems


def _boundary_problems(checkpoints: list[Checkpoint], archived: int,
                       anchor: bytes | None) -> list[Problem]:
    """Archives end on a checkpoint, and that checkpoint agrees with the seal."""
    if archived == 0:
        return []
    problems = [Problem(c.first, f"checkpoint {c.number} straddles the archive boundary")
                for c in checkpoints if c.first <= archived < c.last]
    closing = [c for c in checkpoints if c.last == archived]
    if not closing:
        problems.append(Problem(archived, "no checkpoint ends at the archive boundary"))
    elif anchor is not None and closing[0].last_entry_hash != anchor:
        problems.append(Problem(archived, f"checkpoint {closing[0].number} and the archive seal "
                                          "disagree on the hash at the archive boundary"))
    return problems


def _stray_rows(conn: Connection, archived: int, head: int) -> list[Problem]:
    """Rows outside the live range: inserted past the head, or left in the archived range."""
    problems = []
    beyond = conn.execute(text("SELECT MIN(position), COUNT(*) FROM audit_entries "
                               "WHERE position > :head"), {"head": head}).one()
    if beyond[1]:
        problems.append(Problem(int(beyond[0]), f"{beyond[1]} entries lie beyond the head "
                                                "position (inserted)"))
    before = conn.execute(text("SELECT MIN(position), COUNT(*) FROM audit_entries "
                               "WHERE position <= :archived"), {"archived": archived}).one()
    if before[1]:
        problems.append(Problem(int(before[0]), f"{before[1]} entries lie in the archived "
                                                "range (inserted)"))
    return problems


def _against_copy(checkpoints: list[Checkpoint],
                  exported: Sequence[Checkpoint]) -> list[Problem]:
    stored = {cp.number: cp for cp in checkpoints}
    problems = []
    for copy in exported:
        mine = stored.get(copy.number)
        if mine is None:
            problems.append(Problem(copy.first, f"checkpoint {copy.number} of the exported copy "
                                                "is missing from the database"))
        elif mine != copy:
            problems.append(Problem(min(copy.first, mine.first),
                                    f"checkpoint {copy.number} differs from the exported copy"))
    return problems
