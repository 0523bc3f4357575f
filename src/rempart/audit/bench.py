"""Measuring the audit log's cost: appends per second, alone and with group commit,
and how fast a verification walks the chain. Prints figures; asserts nothing."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from sqlalchemy import Engine

from rempart.audit.checkpoints import Checkpointer
from rempart.audit.service import AuditLog
from rempart.audit.signing import SigningKey, TrustedKeys
from rempart.audit.verify import Verifier
from rempart.clock import Clock


def _append_one(log: AuditLog, n: int) -> None:
    log.append(event="check.answered", account_id=1 + n % 500, organisation_id=1 + n % 200,
               session_id=f"s{n % 997:04d}", device_id=f"d{n % 991:04d}",
               client_address=f"10.0.{n % 250}.{n % 199}", subject_id=1 + n,
               fields=("coverage", "guarantee", "third_party"),
               detail={"category": "pharmacy", "outcome": "covered"})


def measure(*, engine: Engine, clock: Clock, entries: int, threads: int,
            max_batch: int = 500) -> dict[str, Any]:
    """Appends from one thread, then from `threads` threads; then checkpoint and verify."""
    figures: dict[str, Any] = {"backend": engine.dialect.name, "entries": entries,
                               "threads": threads, "max_batch": max_batch}
    single = max(1, min(entries // 10, 2_000))
    with AuditLog(engine=engine, clock=clock, max_batch=max_batch) as log:
        started = time.perf_counter()
        for n in range(single):
            _append_one(log, n)
        figures["single_thread_appends_per_s"] = round(single / (time.perf_counter() - started))

    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, entries // threads)

    def worker(offset: int, log: AuditLog) -> None:
        mine = []
        for n in range(offset, offset + per_thread):
            t0 = time.perf_counter()
            _append_one(log, n)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    with AuditLog(engine=engine, clock=clock, max_batch=max_batch) as log:
        pool = [threading.Thread(target=worker, args=(single + i * per_thread, log))
                for i in range(threads)]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - started
        batches = log.batches_written
    total = per_thread * threads
    latencies.sort()
    figures["appends_per_s"] = round(total / elapsed)
    figures["mean_batch"] = round(total / max(1, batches), 1)
    figures["append_p50_ms"] = round(statistics.median(latencies) * 1000, 2)
    figures["append_p99_ms"] = round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)

    key = SigningKey.generate()
    started = time.perf_counter()
    Checkpointer(engine=engine, clock=clock, signing_key=key).checkpoint()
    figures["checkpoint_entries_per_s"] = round((single + total) / (time.perf_counter() - started))
    started = time.perf_counter()
    report = Verifier(engine=engine, trusted_keys=TrustedKeys([key.verify_key])).verify()
    figures["verify_entries_per_s"] = round(report.entries_checked /
                                            (time.perf_counter() - started))
    figures["verified"] = report.ok
    return figures
