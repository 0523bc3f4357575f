"""The scaled-out shape in the benchmark (issue 8): a Redis shared by the servers, and
the embedded default measured beside it in the same run.

- `shared_redis`: the environment that puts a server's shared state (the guard's
  counters and profiles, login throttling) in Redis, under a key prefix of the run's
  own (`rempart-bench-<random>`), and the deletion of every key under that prefix when
  the run ends, so that runs never see each other's state nor leave any behind;
- `embedded_instance`: the embedded default (SQLite in the bench directory) over the
  same population as the run's own instance, built once and cached like it, so that
  one run can load both shapes in alternating slices.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from rempart.bench.bench_instance import BenchInstance, ensure_bench_instance
from rempart.bench.errors import BenchError
from rempart.ratelimit import REDIS_PREFIX_ENV, REDIS_URL_ENV

PREFIX_STEM = "rempart-bench"


@dataclass
class SharedRedis:
    env: dict[str, str]  # for the servers that share it; empty without Redis
    prefix: str | None = None
    keys_deleted: int = 0


@contextmanager
def shared_redis(url: str | None) -> Iterator[SharedRedis]:
    """Redis for the run's servers (nothing without a URL); its keys deleted at the end."""
    if url is None:
        yield SharedRedis(env={})
        return
    prefix = f"{PREFIX_STEM}-{secrets.token_hex(4)}"
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis unreachable ({type(exc).__name__})") from exc
    shared = SharedRedis(env={REDIS_URL_ENV: url, REDIS_PREFIX_ENV: prefix}, prefix=prefix)
    try:
        yield shared
    finally:
        # The app's keys are `<prefix>-<component>:...`, some wrapped by the rate-limit
        # library's own namespace: match the prefix anywhere in the key.
        for batch in _batches(client.scan_iter(match=f"*{prefix}-*", count=1000)):
            shared.keys_deleted += int(client.delete(*batch))
        client.close()


def _batches(keys: Iterator[bytes], size: int = 500) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def embedded_instance(*, like: BenchInstance, seed: int, data_dir: Path | None,
                      on_stage: Callable[[str], None]) -> BenchInstance:
    """The embedded default over the same population as `like` (same size and seed:
    the same persons, so that one corpus serves both)."""
    if like.backend == "sqlite":
        return like
    embedded = ensure_bench_instance(people=like.instance.people, seed=seed,
                                     database_url=None, data_dir=data_dir,
                                     on_stage=on_stage)
    if _member_files(embedded) != _member_files(like):
        raise BenchError("the embedded instance holds another population than the run's "
                         "(built with another seed?): delete one of them")
    return embedded


def _member_files(bench: BenchInstance) -> list[str]:
    return sorted(file.name for file in bench.instance.manifest.files)
