"""How many PostgreSQL connections one worker may open: its budget, from the settings.

A worker holds two kinds (docs/deploy.md, "PostgreSQL connections per worker"):

- the engine's pool: `db_pool_size` kept, up to `db_pool_overflow` more while busy;
- driver connections kept per thread and owner, outside the pool
  (rempart.storage.thread_connections), for as long as the thread lives; a served
  worker keeps its threads (rempart.web.worker_threads), so each thread that ever used
  one keeps it.

The thread-held ones are bounded by bounding the threads: on PostgreSQL both pools of
worker threads, the loop's executor (`asyncio.to_thread`) and anyio's
(`run_in_threadpool`), have `db_threads` threads. Their owners, by pool:

- the loop's executor: the check's look-ups and its journal's commits (`CheckService`),
  and the benchmark's bare look-up where its endpoints are on (`bench_endpoints`);
- anyio's: the same `CheckService` (the portal's check page), the member links' replay
  cache (`DbReplayCache`, always in the database), and the DPoP proofs' replay cache
  when it is in the database (no Redis for it: rempart.auth.replay_stores).

The DPoP checks' own pool reads through the engine's pool only (it is used where the
proofs' replay entries are in the process). Every other thread (the audit writers, the
guard's snapshots, the alert webhook) uses the engine's pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from rempart.guard.config import REDIS_SCHEMES
from rempart.settings import Settings


@dataclass(frozen=True)
class ConnectionBudget:
    pool_size: int
    pool_overflow: int
    threads: int  # in each of the two pools of worker threads
    loop_owners: int  # owners of thread connections used in the loop's executor
    anyio_owners: int  # and in anyio's worker threads

    @classmethod
    def for_settings(cls, settings: Settings) -> ConnectionBudget | None:
        """The budget of one worker on PostgreSQL; None on SQLite (no server)."""
        if settings.is_sqlite:
            return None
        proofs_in_database = not settings.auth.replay_storage.startswith(REDIS_SCHEMES)
        return cls(pool_size=settings.db_pool_size, pool_overflow=settings.db_pool_overflow,
                   threads=settings.db_threads,
                   loop_owners=1 + int(settings.bench_endpoints),
                   anyio_owners=2 + int(proofs_in_database))

    @property
    def pool(self) -> int:
        return self.pool_size + self.pool_overflow

    @property
    def thread_held(self) -> int:
        """The most driver connections the worker's threads may keep."""
        return self.threads * (self.loop_owners + self.anyio_owners)

    @property
    def per_worker(self) -> int:
        return self.pool + self.thread_held

    def fields(self) -> dict[str, int]:
        """For a log line (no URL, no credential)."""
        return {"pool_size": self.pool_size, "pool_overflow": self.pool_overflow,
                "threads": self.threads, "thread_held": self.thread_held,
                "per_worker": self.per_worker}


def worker_threads(settings: Settings) -> int | None:
    """The size of each pool of worker threads a served app starts: `db_threads` on
    PostgreSQL (they bound its connections); None elsewhere (the pools' own sizes)."""
    return None if settings.is_sqlite else settings.db_threads
