"""The importer: applies insurer and provider files, each in one all-or-nothing transaction.

A file is applied completely or not at all: every row is validated, problems are
collected (file, line, field, reason; never a value), and any problem rolls the
whole file back. A file already applied (same SHA-256) is skipped, and an unchanged
row is never rewritten, so importing the same data twice changes nothing. Once the
files of an import are committed, the tables they wrote a good share of are analysed
(ingest.statistics), once for the whole import rather than after every file.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError

from rempart.clock import Clock
from rempart.ingest.bulk import bulk_for, references_checked_here
from rempart.ingest.discover import expand
from rempart.ingest.errors import FileRejected, Problems
from rempart.ingest.formats import FileKind
from rempart.ingest.framing import (
    CHUNK_BYTES,
    FileHead,
    check_row_count,
    iter_rows,
    read_head,
)
from rempart.ingest.keycheck import check_keyring
from rempart.ingest.members_store import MembersApplier
from rempart.ingest.models import AppliedFile
from rempart.ingest.pipeline import ChunkFeed, PreparerConfig, prepared_chunks
from rempart.ingest.reference import SPECS, apply_reference_file
from rempart.ingest.statistics import refresh_statistics
from rempart.population.models import Guarantee, Insurer
from rempart.vault import Vault

log = structlog.get_logger(__name__)

# Worker processes that validate and seal large members files while this process
# writes: one when there is a second core (validation and sealing cost about as much
# CPU as the writes, see docs/scale.md); `--workers N` chooses.
DEFAULT_WORKERS = 1 if (os.cpu_count() or 1) > 1 else 0
PARALLEL_MIN_ROWS = 4_000  # about two chunks: below this, workers cannot overlap anything


class ImportProgress(Protocol):
    def file_started(self, *, name: str, kind: FileKind, rows: int) -> None: ...

    def rows_done(self, count: int) -> None: ...

    def file_finished(self, report: FileReport) -> None: ...


@dataclass(frozen=True)
class FileReport:
    name: str
    kind: FileKind
    rows: int
    status: str  # "applied" or "already applied"
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


class Importer:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock,
                 workers: int = DEFAULT_WORKERS,
                 parallel_min_rows: int = PARALLEL_MIN_ROWS,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._workers = workers
        self._parallel_min_rows = parallel_min_rows
        self._chunk_bytes = chunk_bytes  # rows are validated and written a chunk at a time

    def import_paths(self, *, paths: Sequence[Path],
                     progress: ImportProgress | None = None) -> list[FileReport]:
        """Apply every file named (directories expanded), in kind order; stop at the first
        rejected file, leaving the files before it applied and nothing of it."""
        files = expand(paths)
        check_keyring(self._engine, self._vault)
        feed = (ChunkFeed(workers=self._workers, vault=self._vault,
                          chunk_bytes=self._chunk_bytes) if self._workers > 0 else None)
        reports: list[FileReport] = []
        try:
            with feed or nullcontext():
                for at, path in enumerate(files):
                    reports.append(self._import_file(path, progress, feed,
                                                     files[at + 1:at + 2]))
        finally:
            # Once for the whole import, rejected file or not: what its files committed.
            self._refresh_statistics(reports)
        return reports

    def import_file(self, *, path: Path, progress: ImportProgress | None = None) -> FileReport:
        report = self._import_file(path, progress, None, [])
        self._refresh_statistics([report])
        return report

    def _refresh_statistics(self, reports: list[FileReport]) -> None:
        """Analyse the tables the applied files wrote a good share of (ingest.statistics),
        counting all of them together: one ANALYZE after a load of many files."""
        written: Counter[str] = Counter()
        for report in reports:
            if report.status == "applied":
                written.update(_written(report.kind, report.counts))
        if not written:
            return
        try:
            refresh_statistics(self._engine, dict(written))
        except SQLAlchemyError as exc:
            # The files are committed: failing here would make a re-run say "already
            # applied" with no statistics still. Say so and let the operator analyse.
            log.warning("import.statistics_not_refreshed", files=len(reports),
                        error=type(exc).__name__,
                        hint="run ANALYZE on the population tables")

    def _import_file(self, path: Path, progress: ImportProgress | None, feed: ChunkFeed | None,
                     upcoming: list[Path]) -> FileReport:
        """Apply one file; `feed` (if any) prepares its chunks, and then those of the
        first of `upcoming` while this file is finished and committed."""
        problems = Problems(path.name)
        head = read_head(path, problems)
        if head is None:
            raise FileRejected(problems)
        if self._already_applied(head):
            report = FileReport(path.name, head.kind, head.declared_rows, "already applied")
        else:
            if progress is not None:
                progress.file_started(name=path.name, kind=head.kind, rows=head.declared_rows)
            report = self._apply(head, problems, progress,
                                 _Workers(feed, lambda: self._worth_feeding(upcoming)))
        if progress is not None:
            progress.file_finished(report)
        return report

    def _already_applied(self, head: FileHead) -> bool:
        with self._engine.connect() as conn:
            found = conn.scalar(select(AppliedFile.id).where(AppliedFile.sha256 == head.sha256))
        return found is not None

    def _worth_feeding(self, paths: list[Path]) -> FileHead | None:
        """The head of the next file, if it is a members file (the workers, running now,
        will prepare it whatever its size)."""
        if not paths:
            return None
        head = read_head(paths[0], Problems(paths[0].name))
        if head is None or head.kind is not FileKind.MEMBERS or self._already_applied(head):
            return None
        return head

    def _apply(self, head: FileHead, problems: Problems,
               progress: ImportProgress | None, workers: _Workers) -> FileReport:
        started = self._clock.monotonic()
        now = self._clock.now()
        on_rows = progress.rows_done if progress is not None else _ignore
        with self._engine.connect() as conn, self._checks(conn, head.kind), conn.begin():
            if conn.dialect.name == "sqlite":
                # Take the write lock now, so the ids and rows read below stay current.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            applied_meanwhile = conn.scalar(
                select(AppliedFile.id).where(AppliedFile.sha256 == head.sha256))
            if applied_meanwhile is not None:
                return FileReport(head.path.name, head.kind, head.declared_rows,
                                  "already applied")
            if head.kind is FileKind.MEMBERS:
                counts = self._apply_members(conn, head, problems, now, on_rows, workers)
            else:
                outcome = apply_reference_file(conn, head.kind, iter_rows(head, problems),
                                               problems, on_rows)
                counts = dict(vars(outcome))
            if problems:
                raise FileRejected(problems)  # leaving the block rolls the file back
            conn.execute(insert(AppliedFile).values(
                sha256=head.sha256, kind=head.kind.value, mode=head.mode.value,
                rows=head.declared_rows, applied_at=now))
        return FileReport(head.path.name, head.kind, head.declared_rows, "applied",
                          seconds=self._clock.monotonic() - started, counts=counts)

    @staticmethod
    def _checks(conn: Connection, kind: FileKind) -> AbstractContextManager[None]:
        return references_checked_here(conn) if kind is FileKind.MEMBERS else nullcontext()

    def _apply_members(self, conn: Connection, head: FileHead, problems: Problems,
                       now: dt.datetime, on_rows: Callable[[int], None],
                       workers: _Workers) -> dict[str, int]:
        config = PreparerConfig(
            insurers={amc: id_ for amc, id_ in
                      conn.execute(select(Insurer.amc_number, Insurer.id))},
            tiers={(insurer_id, tier) for insurer_id, tier in
                   conn.execute(select(Guarantee.insurer_id, Guarantee.tier).distinct())},
            today=now.date(), mode=head.mode)
        applier = MembersApplier(bulk=bulk_for(conn, now), vault=self._vault,
                                 problems=problems)
        feed, large = workers.feed, head.declared_rows >= self._parallel_min_rows
        if feed is not None and (feed.started or large):
            chunks = feed.chunks(head=head, config=config, then=workers.then)
        else:  # a small file is not worth starting workers for
            chunks = prepared_chunks(head=head, config=config, vault=self._vault,
                                     workers=self._workers if large else 0,
                                     chunk_bytes=self._chunk_bytes)
        lines = 0
        # What exists now outlives the file: the garbage collector leaves it alone until
        # the file is applied, instead of walking it again for every few thousand rows.
        gc.freeze()
        try:
            for chunk in chunks:
                problems.extend(chunk.problems, chunk.problem_total)
                applier.apply(chunk)
                lines += chunk.lines
                on_rows(chunk.lines)
        finally:
            gc.unfreeze()
        check_row_count(head, lines, problems)
        applier.finish()
        return dict(vars(applier.outcome))


@dataclass(frozen=True)
class _Workers:
    """The import's worker pool, if any, and what it should prepare after this file."""

    feed: ChunkFeed | None
    then: Callable[[], FileHead | None]


def _written(kind: FileKind, counts: dict[str, int]) -> dict[str, int]:
    """The rows a file applied with these counts inserted or changed, per table."""
    if kind is not FileKind.MEMBERS:
        return {SPECS[kind].table.name: counts["inserted"] + counts["updated"]}
    return {"contracts": counts["contracts_inserted"] + counts["contracts_updated"]
            + counts["contracts_terminated"],
            "beneficiaries": counts["members_inserted"] + counts["members_updated"]}


def _ignore(_count: int) -> None:
    """No progress display."""
