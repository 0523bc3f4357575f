"""Retention: old entries move to archive files with their checkpoints, never just vanish.

Only whole checkpoint ranges whose every entry is older than the retention period are
archived, and only once they verify. The file (JSON lines) holds a header, the signed
checkpoint that ends just before it (its anchor, when it does not start at position 1),
the entries as stored and the checkpoints over them: it verifies on its own. A signed
seal (the file's SHA-256, its range and the chain hash at its end) is written beside it
as `<file>.seal` and into the database, from which the entries are then deleted in the
same transaction that moves the head's archive boundary. The live chain then resumes,
verifiably, from the sealed hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Connection, Engine, delete, insert, text, update

from rempart.audit.chain import ChainChecker, check_sequence
from rempart.audit.errors import ArchiveRefused, AuditFileError, ConcurrentAuditChange
from rempart.audit.hashing import GENESIS_HASH
from rempart.audit.models import HEAD_ROW_ID, AuditArchive, AuditEntry, AuditHead
from rempart.audit.records import to_micros
from rempart.audit.report import Problem, VerificationReport
from rempart.audit.signing import SigningKey, TrustedKeys
from rempart.audit.statements import ArchiveSeal, Checkpoint
from rempart.audit.store import (
    StoredEntry,
    iter_entries,
    read_checkpoints,
    read_head,
    read_seals,
    require_schema,
)
from rempart.clock import Clock

ARCHIVE_FORMAT = "rempart-audit-archive/1"
SEAL_SUFFIX = ".seal"


class Archiver:
    def __init__(self, *, engine: Engine, clock: Clock, signing_key: SigningKey,
                 trusted_keys: TrustedKeys | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._key = signing_key
        self._trusted = trusted_keys or TrustedKeys([signing_key.verify_key])

    def archive(self, *, older_than: dt.timedelta, directory: Path) -> ArchiveSeal | None:
        """Archive every checkpointed range older than `older_than`; None if there is none."""
        if older_than < dt.timedelta(0):
            raise ArchiveRefused("the retention period cannot be negative")
        require_schema(self._engine)
        cutoff = to_micros(self._clock.now() - older_than)
        with self._engine.connect() as conn:
            head = read_head(conn)
            boundary = head.archived_through
            seals, anchor_cp, chosen = self._plan(conn, boundary, cutoff)
            if not chosen:
                return None
            first, last = boundary + 1, chosen[-1].last
            path = directory / f"audit-archive-{first:012d}-{last:012d}.jsonl"
            digest = self._write_file(conn, path, first, last, anchor_cp, chosen)
        seal = ArchiveSeal(number=seals[-1].number + 1 if seals else 1, first=first, last=last,
                           last_entry_hash=chosen[-1].last_entry_hash, file_name=path.name,
                           file_sha256=digest, created_at_us=to_micros(self._clock.now()),
                           ).signed(self._key)
        seal_path = path.with_name(path.name + SEAL_SUFFIX)
        try:
            _write_atomic(seal_path, orjson.dumps(seal.to_json()) + b"\n")
            report = verify_archive(path, self._trusted)
            if not report.ok:
                raise ArchiveRefused(f"the archive file did not verify once written: "
                                     f"{report.summary()}")
        except BaseException:
            path.unlink(missing_ok=True)
            seal_path.unlink(missing_ok=True)
            raise
        # Should this fail, the files stay: they only duplicate entries still in the
        # database, and the next run rewrites them.
        self._commit(boundary, seal)
        return seal

    def _plan(self, conn: Connection, boundary: int, cutoff: int,
              ) -> tuple[list[ArchiveSeal], Checkpoint | None, list[Checkpoint]]:
        seals, broken_seals = read_seals(conn)
        checkpoints, broken = read_checkpoints(conn)
        valid, problems = check_sequence(checkpoints, self._trusted)
        problems += [Problem(p, m) for p, m in broken + broken_seals]
        if problems:
            first = min(problems)
            raise ArchiveRefused(f"the checkpoints do not verify (first bad position "
                                 f"{first.position}: {first.message}); run `rempart audit "
                                 "verify`")
        anchor_cp = next((c for c in valid if c.last == boundary), None)
        if boundary and anchor_cp is None:
            raise ArchiveRefused(f"no checkpoint ends at the archive boundary {boundary}")
        chosen = []
        for cp in (c for c in valid if c.first > boundary):
            newest = conn.execute(text(
                "SELECT MAX(occurred_at_us) FROM audit_entries "
                "WHERE position >= :first AND position <= :last"),
                {"first": cp.first, "last": cp.last}).scalar()
            if not isinstance(newest, int) or newest >= cutoff:
                break
            chosen.append(cp)
        return seals, anchor_cp, chosen

    def _write_file(self, conn: Connection, path: Path, first: int, last: int,
                    anchor_cp: Checkpoint | None, chosen: list[Checkpoint]) -> bytes:
        """Write and fsync the archive under a temporary name, checking as it goes."""
        anchor = anchor_cp.last_entry_hash if anchor_cp else GENESIS_HASH
        checker = ChainChecker(start=first, anchor_hash=anchor, checkpoints=chosen)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        digest = hashlib.sha256()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                def emit(doc: dict[str, Any]) -> None:
                    line = orjson.dumps(doc) + b"\n"
                    digest.update(line)
                    handle.write(line)

                emit({"kind": "header", "format": ARCHIVE_FORMAT, "first": first,
                      "last": last, "anchor_hash": anchor.hex()})
                if anchor_cp is not None:
                    emit({"kind": "anchor", "checkpoint": anchor_cp.to_json()})
                for entry in iter_entries(conn, after=first - 1, through=last):
                    checker.feed(entry)
                    _refuse_if_broken(checker)
                    emit({"kind": "entry", "entry": entry.to_json()})
                checker.finish(end=last)
                _refuse_if_broken(checker)
                for cp in chosen:
                    emit({"kind": "checkpoint", "checkpoint": cp.to_json()})
                _sync(handle)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest.digest()

    def _commit(self, boundary: int, seal: ArchiveSeal) -> None:
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(AuditHead)
                .where(AuditHead.id == HEAD_ROW_ID, AuditHead.archived_through == boundary)
                .values(archived_through=seal.last)).rowcount
            if moved != 1:
                raise ConcurrentAuditChange("another archive ran at the same time; run the "
                                            "command again")
            conn.execute(insert(AuditArchive).values(
                number=seal.number, first_position=seal.first, last_position=seal.last,
                last_entry_hash=seal.last_entry_hash, file_name=seal.file_name,
                file_sha256=seal.file_sha256, created_at_us=seal.created_at_us,
                key_id=seal.key_id, signature=seal.signature))
            conn.execute(delete(AuditEntry).where(AuditEntry.position >= seal.first,
                                                  AuditEntry.position <= seal.last))


def _refuse_if_broken(checker: ChainChecker) -> None:
    problems = checker.problems()
    if problems:
        raise ArchiveRefused(f"not archiving a range that does not verify: first bad position "
                             f"{problems[0].position}: {problems[0].message}")


def _sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        _sync(handle)
    os.replace(tmp, path)


# -- verifying an archive file on its own -----------------------------------------

def verify_archive(path: Path, trusted: TrustedKeys) -> VerificationReport:
    """Recompute an archive file: its anchor, chain, checkpoints and seal."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditFileError(f"archive file {path} cannot be read "
                             f"({exc.strerror or type(exc).__name__})") from None
    docs = [_parse_line(path, number, line)
            for number, line in enumerate(data.splitlines(), 1) if line.strip()]
    if not docs or docs[0].get("kind") != "header" or docs[0].get("format") != ARCHIVE_FORMAT:
        raise AuditFileError(f"archive file {path}: does not start with a {ARCHIVE_FORMAT} "
                             "header")
    first, last = docs[0].get("first"), docs[0].get("last")
    if not (isinstance(first, int) and isinstance(last, int) and 0 < first <= last):
        raise AuditFileError(f"archive file {path}: header has no valid range")
    problems: list[Problem] = []
    anchor = _anchor(path, docs, first, trusted, problems)
    checkpoints = [_checkpoint(path, doc) for doc in docs if doc.get("kind") == "checkpoint"]
    valid, sequence_problems = check_sequence(checkpoints, trusted, first_position=first,
                                              first_number=None)
    problems += sequence_problems
    if not checkpoints or max(c.last for c in checkpoints) != last:
        problems.append(Problem(first, "the archive's checkpoints do not end at its last "
                                       "position"))
    checker = ChainChecker(start=first, anchor_hash=anchor, checkpoints=valid)
    for doc in docs:
        if doc.get("kind") == "entry":
            checker.feed(_entry(path, doc))
    checker.finish(end=last)
    problems += checker.problems()
    problems += _seal_problems(path, data, first, last, valid, trusted)
    return VerificationReport(problems=sorted(problems), entries_checked=checker.entries,
                              checkpoints_checked=checker.checkpoints_checked,
                              first_position=first, last_position=last)


def _parse_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise AuditFileError(f"archive file {path} line {number}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise AuditFileError(f"archive file {path} line {number}: not a JSON object")
    return doc


def _checkpoint(path: Path, doc: dict[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.from_json(doc.get("checkpoint"))
    except ValueError as exc:
        raise AuditFileError(f"archive file {path}: malformed checkpoint ({exc})") from None


def _entry(path: Path, doc: dict[str, Any]) -> StoredEntry:
    body = doc.get("entry")
    try:
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return StoredEntry.from_json(body)
    except ValueError as exc:
        raise AuditFileError(f"archive file {path}: malformed entry ({exc})") from None


def _anchor(path: Path, docs: list[dict[str, Any]], first: int, trusted: TrustedKeys,
            problems: list[Problem]) -> bytes | None:
    if first == 1:
        return GENESIS_HASH
    anchors = [_checkpoint(path, d) for d in docs if d.get("kind") == "anchor"]
    if not anchors or anchors[0].last != first - 1:
        problems.append(Problem(first, "the archive has no checkpoint ending just before it"))
        return None
    reason = trusted.problem_with(anchors[0].key_id, anchors[0].statement(),
                                  anchors[0].signature)
    if reason:
        problems.append(Problem(first, f"the archive's anchor checkpoint {reason}"))
        return None
    return anchors[0].last_entry_hash


def _seal_problems(path: Path, data: bytes, first: int, last: int,
                   checkpoints: list[Checkpoint], trusted: TrustedKeys) -> list[Problem]:
    seal_path = path.with_name(path.name + SEAL_SUFFIX)
    try:
        seal = ArchiveSeal.from_json(orjson.loads(seal_path.read_bytes()))
    except FileNotFoundError:
        return [Problem(first, f"the seal {seal_path.name} is missing")]
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise AuditFileError(f"seal file {seal_path} cannot be read ({exc})") from None
    problems = []
    reason = trusted.problem_with(seal.key_id, seal.statement(), seal.signature)
    if reason:
        problems.append(Problem(first, f"the archive seal {reason}"))
    if seal.file_sha256 != hashlib.sha256(data).digest():
        problems.append(Problem(first, "the archive file does not match its seal's SHA-256 "
                                       "(file altered)"))
    if (seal.first, seal.last) != (first, last) or seal.file_name != path.name:
        problems.append(Problem(first, "the seal is for another archive file"))
    closing = [c for c in checkpoints if c.last == last]
    if closing and closing[0].last_entry_hash != seal.last_entry_hash:
        problems.append(Problem(last, "the seal and the last checkpoint disagree on the final "
                                      "hash"))
    return problems
