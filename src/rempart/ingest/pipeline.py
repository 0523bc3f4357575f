"""Members rows validated and sealed in worker processes, handed back in file order.

Validation and sealing cost about as much as writing, and each row's work stands alone,
so chunks of whole lines go to a small pool of forked workers while this process
applies the chunks already prepared. At most a few chunks are in flight, so memory
stays flat whatever the file's size. Small files are prepared in-process.

One pool serves a whole import (`ChunkFeed`): it is forked once, not once per file, and
once every chunk of a file has been handed out the workers go on with the first chunks
of the next file while this process writes and commits the end of the current one.
That look-ahead is a guess (the next file's insurers and tiers are read in its own
transaction): a chunk is used only if it was prepared with exactly the configuration its
file's transaction reads, else it is dropped and prepared again.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType

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


_worker_vault: Vault | None = None
_worker_preparer: tuple[PreparerConfig, MemberPreparer] | None = None


def _start_worker(keyring_json: str) -> None:
    global _worker_vault  # one vault per worker process
    # Everything inherited from the parent stays as it is: the garbage collector would
    # otherwise walk it again and again (and copy its pages) while the worker allocates.
    gc.freeze()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _worker_vault = Vault(Keyring.from_json(keyring_json, source="importer"))


def _exit_with_parent(parent: int) -> None:
    """A killed importer must not leave its workers behind, waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _prepare_in_worker(config: PreparerConfig, first_line: int, raw: bytes) -> PreparedChunk:
    global _worker_preparer  # rebuilt only when a file brings another configuration
    if _worker_vault is None:
        raise RuntimeError("worker started without its vault")
    if _worker_preparer is None or _worker_preparer[0] != config:
        _worker_preparer = (config, config.preparer(_worker_vault))
    return _worker_preparer[1].prepare_chunk(first_line, raw)


def prepared_chunks(*, head: FileHead, config: PreparerConfig, vault: Vault, workers: int,
                    chunk_bytes: int = CHUNK_BYTES) -> Iterator[PreparedChunk]:
    """Every chunk of the file prepared, in file order, by `workers` processes (0: here),
    with a pool of its own (an import of several files shares one: ChunkFeed)."""
    if workers < 1:
        preparer = config.preparer(vault)
        for first_line, raw in data_chunks(head, chunk_bytes):
            yield preparer.prepare_chunk(first_line, raw)
        return
    with ChunkFeed(workers=workers, vault=vault, chunk_bytes=chunk_bytes) as feed:
        yield from feed.chunks(head=head, config=config)


@dataclass(frozen=True)
class _Ticket:
    """Which file a chunk belongs to, and the configuration it was prepared with."""

    serial: int  # one per file handed out: the same file twice is two files
    sha256: bytes
    config: PreparerConfig

    def serves(self, sha256: bytes, config: PreparerConfig) -> bool:
        return self.sha256 == sha256 and self.config == config


class ChunkFeed:
    """A pool of forked workers preparing the chunks of one file after another.

    `chunks` yields a file's chunks in order. With `then`, a callable naming the file
    expected next (or None), the workers start on that file's chunks as soon as the
    current file's are all handed out, under the current configuration with the next
    file's mode; `chunks` for that file uses them if its own configuration is the
    same, and drops them otherwise.
    """

    def __init__(self, *, workers: int, vault: Vault, chunk_bytes: int = CHUNK_BYTES) -> None:
        if workers < 1:
            raise ValueError("a feed needs at least one worker")
        self._workers = workers
        self._vault = vault
        self._chunk_bytes = chunk_bytes
        self._pool: Pool | None = None
        # Submitted and not yet taken, in file order: (ticket, result).
        self._pending: deque[tuple[_Ticket, AsyncResult[PreparedChunk]]] = deque()
        # The file being handed out: its ticket and its chunks not yet submitted.
        self._source: tuple[_Ticket, Iterator[tuple[int, bytes]]] | None = None
        self._serial = 0

    def __enter__(self) -> ChunkFeed:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def started(self) -> bool:
        """Whether the workers are running (a small file is then worth sending them too)."""
        return self._pool is not None

    def close(self) -> None:
        self._pending.clear()
        self._source = None
        if self._pool is not None:
            self._pool.terminate()  # a look-ahead nobody will take is not waited for
            self._pool.join()
            self._pool = None

    def chunks(self, *, head: FileHead, config: PreparerConfig,
               then: Callable[[], FileHead | None] | None = None) -> Iterator[PreparedChunk]:
        ticket = self._held(head.sha256, config)
        if ticket is None:
            self._drop()
            ticket = self._hand_out(head, config)
        self._fill()
        while self._pending and self._pending[0][0] is ticket:
            result = self._pending.popleft()[1]
            if self._source is None and then is not None:
                # The file's last chunk is submitted: the workers go on with the next file.
                upcoming, then = then(), None
                if upcoming is not None:
                    self._hand_out(upcoming, replace(config, mode=upcoming.mode))
            self._fill()
            yield result.get()

    def _hand_out(self, head: FileHead, config: PreparerConfig) -> _Ticket:
        self._serial += 1
        ticket = _Ticket(self._serial, head.sha256, config)
        self._source = (ticket, data_chunks(head, self._chunk_bytes))
        return ticket

    def _held(self, sha256: bytes, config: PreparerConfig) -> _Ticket | None:
        """The ticket of what is in flight (or about to be), if it is this file's as
        prepared for it."""
        if self._pending:
            ticket = self._pending[0][0]
        elif self._source is not None:
            ticket = self._source[0]
        else:
            return None
        return ticket if ticket.serves(sha256, config) else None

    def _drop(self) -> None:
        """Forget a look-ahead that turned out wrong; its results are waited for (a
        chunk or two), so that no stale result is ever taken for a new one."""
        for _ticket, result in self._pending:
            result.wait()
        self._pending.clear()
        self._source = None

    def _fill(self) -> None:
        """Keep IN_FLIGHT_PER_WORKER chunks per worker submitted, from the current source."""
        limit = IN_FLIGHT_PER_WORKER * self._workers
        while self._source is not None and len(self._pending) < limit:
            ticket, source = self._source
            block = next(source, None)
            if block is None:
                self._source = None
                break
            self._pending.append((ticket, self._started().apply_async(
                _prepare_in_worker, (ticket.config, *block))))

    def _started(self) -> Pool:
        if self._pool is None:
            # fork: the workers inherit the code already imported and the set of past
            # dates built here once (not once per worker); they never touch the parent's
            # database connection, and exit without running its finalisers.
            if self._source is not None:
                dates_until(self._source[0].config.today)
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self._workers, initializer=_start_worker,
                                      initargs=(self._vault.keyring.to_json(),))
        return self._pool
