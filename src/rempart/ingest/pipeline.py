"""Members rows validated and sealed in worker processes, handed back in file order.

Validation and sealing cost far more than writing, and each row's work stands alone,
so chunks of whole lines go to a small pool of forked workers while this process
applies the chunks already prepared. At most a few chunks are in flight, so memory
stays flat whatever the file's size. Small files are prepared in-process.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult

from rempart.ingest.errors import FieldError, Problem, Problems
from rempart.ingest.formats import FileKind, FileMode
from rempart.ingest.framing import (
    CHUNK_BYTES,
    FileHead,
    count_lines,
    data_chunks,
    split_rows,
)
from rempart.ingest.members import ContractPart, MemberPreparer, MemberRow, TerminateRow
from rempart.population.sealing import PersonFields
from rempart.vault import Keyring, Vault

IN_FLIGHT_PER_WORKER = 2
PARENT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class PreparerConfig:
    """What a worker needs to build its own MemberPreparer."""

    insurers: dict[str, int]
    tiers: set[tuple[int, str]]
    today: dt.date
    mode: FileMode

    def preparer(self, vault: Vault) -> MemberPreparer:
        return MemberPreparer(vault=vault, insurers=self.insurers, tiers=self.tiers,
                              today=self.today, mode=self.mode)


@dataclass(frozen=True)
class PreparedChunk:
    rows: list[MemberRow | TerminateRow]
    lines: int  # data lines in the chunk, good or bad
    problems: list[Problem]
    problem_total: int


def prepare_chunk(preparer: MemberPreparer, first_line: int, raw: bytes) -> PreparedChunk:
    problems = Problems("")
    rows: list[MemberRow | TerminateRow] = []
    for line, values in split_rows(FileKind.MEMBERS, first_line, raw, problems):
        try:
            rows.append(preparer.prepare(line, values))
        except FieldError as exc:
            problems.add(line, exc.field, exc.reason)
    return PreparedChunk(rows, count_lines(raw), problems.kept, problems.total)


_worker_preparer: MemberPreparer | None = None


def _start_worker(keyring_json: str, config: PreparerConfig) -> None:
    global _worker_preparer  # one preparer per worker process
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    vault = Vault(Keyring.from_json(keyring_json, source="importer"))
    _worker_preparer = config.preparer(vault)


def _exit_with_parent(parent: int) -> None:
    """A killed importer must not leave its workers behind, waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


Wire = tuple[object, ...]


def _to_wire(row: MemberRow | TerminateRow) -> Wire:
    """Flat tuples of plain values pickle several times faster than nested records."""
    if isinstance(row, TerminateRow):
        return tuple(row)
    return (row.line, *row.contract, row.member_idx, row.identity_idx, row.rank, row.sealed,
            *row.person.as_strings())


def _from_wire(values: Wire) -> MemberRow | TerminateRow:
    if len(values) == len(TerminateRow._fields):
        return TerminateRow._make(values)
    cut = 1 + len(ContractPart._fields)
    person = PersonFields.from_strings([str(v) for v in values[cut + 4:]])
    return MemberRow._make((values[0], ContractPart._make(values[1:cut]), *values[cut:cut + 4],
                            person))


def _prepare_in_worker(first_line: int, raw: bytes) -> tuple[list[Wire], int, list[Problem],
                                                               int]:
    if _worker_preparer is None:
        raise RuntimeError("worker started without its preparer")
    chunk = prepare_chunk(_worker_preparer, first_line, raw)
    return [_to_wire(r) for r in chunk.rows], chunk.lines, chunk.problems, chunk.problem_total


def _from_worker(result: tuple[list[Wire], int, list[Problem], int]) -> PreparedChunk:
    rows, lines, problems, total = result
    return PreparedChunk([_from_wire(r) for r in rows], lines, problems, total)


def prepared_chunks(*, head: FileHead, config: PreparerConfig, vault: Vault, workers: int,
                    chunk_bytes: int = CHUNK_BYTES) -> Iterator[PreparedChunk]:
    """Every chunk of the file prepared, in file order, by `workers` processes (0: here)."""
    if workers < 1:
        preparer = config.preparer(vault)
        for first_line, raw in data_chunks(head, chunk_bytes):
            yield prepare_chunk(preparer, first_line, raw)
        return
    # fork: the workers inherit the code already imported; they never touch the
    # parent's database connection, and exit without running its finalisers.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start_worker,
                      initargs=(vault.keyring.to_json(), config)) as pool:
        pending: deque[AsyncResult[tuple[list[Wire], int, list[Problem], int]]] = deque()
        for first_line, raw in data_chunks(head, chunk_bytes):
            pending.append(pool.apply_async(_prepare_in_worker, (first_line, raw)))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield _from_worker(pending.popleft().get())
        while pending:
            yield _from_worker(pending.popleft().get())
