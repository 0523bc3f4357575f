"""Members rows validated and sealed in worker processes, handed back in file order.

Validation and sealing cost far more than writing, and each row's work stands alone,
so chunks of whole lines go to a small pool of forked workers while this process
applies the chunks already prepared. At most a few chunks are in flight, so memory
stays flat whatever the file's size. Small files are prepared in-process.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult

from rempart.ingest.fields import dates_until
from rempart.ingest.formats import FileMode
from rempart.ingest.framing import CHUNK_BYTES, FileHead, data_chunks
from rempart.ingest.members import MemberPreparer, PreparedChunk
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


_worker_preparer: MemberPreparer | None = None


def _start_worker(keyring_json: str, config: PreparerConfig) -> None:
    global _worker_preparer  # one preparer per worker process
    # Everything inherited from the parent stays as it is: the garbage collector would
    # otherwise walk it again and again (and copy its pages) while the worker allocates.
    gc.freeze()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    vault = Vault(Keyring.from_json(keyring_json, source="importer"))
    _worker_preparer = config.preparer(vault)


def _exit_with_parent(parent: int) -> None:
    """A killed importer must not leave its workers behind, waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _prepare_in_worker(first_line: int, raw: bytes) -> PreparedChunk:
    if _worker_preparer is None:
        raise RuntimeError("worker started without its preparer")
    return _worker_preparer.prepare_chunk(first_line, raw)


def prepared_chunks(*, head: FileHead, config: PreparerConfig, vault: Vault, workers: int,
                    chunk_bytes: int = CHUNK_BYTES) -> Iterator[PreparedChunk]:
    """Every chunk of the file prepared, in file order, by `workers` processes (0: here)."""
    if workers < 1:
        preparer = config.preparer(vault)
        for first_line, raw in data_chunks(head, chunk_bytes):
            yield preparer.prepare_chunk(first_line, raw)
        return
    # fork: the workers inherit the code already imported and the set of past dates
    # built here once (not once per worker and file); they never touch the parent's
    # database connection, and exit without running its finalisers.
    dates_until(config.today)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start_worker,
                      initargs=(vault.keyring.to_json(), config)) as pool:
        pending: deque[AsyncResult[PreparedChunk]] = deque()
        for first_line, raw in data_chunks(head, chunk_bytes):
            pending.append(pool.apply_async(_prepare_in_worker, (first_line, raw)))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
