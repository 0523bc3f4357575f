"""A lean HTTP/1.1 load generator: C keep-alive connections, one request at a time each.

Run as its own process (`python -m rempart.bench.load`), so that it never shares an
interpreter with the server it measures: each line of its standard input is a
`LoadSpec` as JSON, and it prints the figures of each load as one JSON line, in turn.
A spec without requests sends the previous spec's again, so that a benchmark's slices
start at once, without a new process nor their requests sent again. The requests are
ready-made bytes, sent in turn on raw asyncio streams (no pipelining: each connection
waits for its answer before sending the next, as a counter's software does); answers
are read by their Content-Length. It stops by itself: at the end of its time, or after
`max_requests`, whichever comes first; a warm-up of `warmup` seconds comes before the
measured window and is not counted. With `keep_latencies`, the figures also hold every
measured answer's latency in µs, so that a caller can pool several runs' percentiles.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_CLOSE = b"\r\nconnection: close"
MAX_RECONNECTS = 20  # per connection: a server that keeps failing ends the run


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    requests: list[bytes]  # whole HTTP requests, sent in turn
    connections: int = 32
    seconds: float = 10.0
    warmup: float = 2.0
    max_requests: int = 5_000_000
    ok_statuses: tuple[int, ...] = (200, 201)
    keep_latencies: bool = False
    first: int = 0  # the index of the first request sent: a later run goes on from there

    def to_json(self) -> bytes:
        raw = asdict(self)
        raw["requests"] = [r.decode("latin-1") for r in self.requests]
        return orjson.dumps(raw)

    @classmethod
    def from_json(cls, data: bytes) -> LoadSpec:
        raw = orjson.loads(data)
        raw["requests"] = [r.encode("latin-1") for r in raw["requests"]]
        raw["ok_statuses"] = tuple(raw["ok_statuses"])
        return cls(**raw)


@dataclass
class LoadFigures:
    requests: int  # answered within the measured window
    errors: int  # answers with another status, and broken connections
    seconds: float  # the measured window
    per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    answered_total: int = 0  # warm-up included
    sent: int = 0  # requests sent, warm-up included
    client_cpu_us_per_request: float = 0.0
    latencies_us: list[int] | None = None  # with `keep_latencies`, in answer order

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Run:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        now = time.perf_counter()
        self.measure_from = now + spec.warmup
        self.end = self.measure_from + spec.seconds
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.answered_total = 0

    def next_request(self) -> bytes | None:
        if self.sent >= self.spec.max_requests or time.perf_counter() >= self.end:
            return None
        request = self.spec.requests[(self.spec.first + self.sent) % len(self.spec.requests)]
        self.sent += 1
        return request

    def answered(self, started: float, status: int) -> None:
        done = time.perf_counter()
        self.answered_total += 1
        if done < self.measure_from or done > self.end:
            return
        self.statuses[status] += 1
        if status in self.spec.ok_statuses:
            self.latencies.append(done - started)
        else:
            self.errors += 1


async def _connection(run: _Run) -> None:
    failures = 0
    while failures < MAX_RECONNECTS:
        try:
            reader, writer = await asyncio.open_connection(run.spec.host, run.spec.port)
        except OSError:
            failures += 1
            run.errors += 1
            await asyncio.sleep(0.05)
            continue
        try:
            if not await _serve(run, reader, writer):
                return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            failures += 1
            run.errors += 1
        finally:
            writer.close()


async def _serve(run: _Run, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> bool:
    """Send requests on one connection; True when the server asked to reconnect."""
    while (request := run.next_request()) is not None:
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(_HEAD_END)
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(_LENGTH)
        if at < 0:
            raise ValueError("an answer without Content-Length")
        length = int(lowered[at + len(_LENGTH):lowered.index(b"\r\n", at + 2)])
        await reader.readexactly(length)
        run.answered(started, status)
        if _CLOSE in lowered:
            return True
    return False


async def run_load(spec: LoadSpec) -> LoadFigures:
    run = _Run(spec)
    cpu = time.process_time()
    await asyncio.gather(*(_connection(run) for _ in range(spec.connections)))
    cpu = time.process_time() - cpu
    window = spec.seconds
    latencies = sorted(run.latencies)
    return LoadFigures(
        requests=len(latencies), errors=run.errors, seconds=round(window, 3),
        per_s=round(len(latencies) / window, 1), p50_ms=_ms(latencies, 0.50),
        p90_ms=_ms(latencies, 0.90), p99_ms=_ms(latencies, 0.99),
        max_ms=_ms(latencies, 1.0),
        statuses={str(k): v for k, v in sorted(run.statuses.items())},
        answered_total=run.answered_total, sent=run.sent,
        client_cpu_us_per_request=round(cpu / max(run.answered_total, 1) * 1e6, 1),
        latencies_us=[round(s * 1e6) for s in run.latencies] if spec.keep_latencies else None)


def _ms(ordered: list[float], quantile: float) -> float:
    """The quantile of sorted latencies in seconds, in ms."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, int(quantile * len(ordered)))
    return round(ordered[index] * 1000, 2)


def latency_quantiles(ordered_us: list[int]) -> dict[str, float]:
    """p50, p90, p99 and max in ms of sorted latencies in µs (pooled from several runs)."""
    seconds = [us / 1e6 for us in ordered_us]
    return {"p50_ms": _ms(seconds, 0.50), "p90_ms": _ms(seconds, 0.90),
            "p99_ms": _ms(seconds, 0.99), "max_ms": _ms(seconds, 1.0)}


def main() -> None:
    try:
        import uvloop  # the client's own overhead is part of the machine's load: keep it low
    except ImportError:
        run: Any = asyncio.run
    else:
        run = uvloop.run
    requests: list[bytes] = []
    for line in sys.stdin.buffer:
        spec = LoadSpec.from_json(line)
        if spec.requests:
            requests = spec.requests
        else:
            spec = replace(spec, requests=requests)
        figures = run(run_load(spec))
        sys.stdout.buffer.write(orjson.dumps(figures.as_dict()) + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
