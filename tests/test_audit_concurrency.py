"""Two writer processes appending at once still make one gapless, verifiable chain."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from audit_support import make_bed
from rempart.runtime import Runtime

PER_PROCESS = 60

WRITER = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from rempart.audit import AuditLog
    from rempart.clock import SystemClock
    from rempart.settings import Settings
    from rempart.storage.engine import make_engine

    url, ready_dir, tag, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    engine = make_engine(Settings.load(data_dir=ready_dir, database_url=url))
    def meet(step):
        (ready_dir / f"{step}-{tag}").touch()
        deadline = time.monotonic() + 60
        while len(list(ready_dir.glob(f"{step}-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    with AuditLog(engine=engine, clock=SystemClock()) as log:
        def write(first, last):
            def work(offset):
                for n in range(first + offset, last, 3):
                    log.append(event="check.answered", account_id=tag, subject_id=n + 1)
            threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        meet("ready")
        started = time.time()
        # Each writer waits half-way for the other: on a loaded machine (tests run beside
        # each other) one could otherwise write all its entries before the other begins.
        write(0, count // 2)
        meet("half")
        write(count // 2, count)
        (ready_dir / f"span-{tag}").write_text(f"{started} {time.time()}")
    engine.dispose()
""")


def test_two_processes_make_one_verifiable_chain(runtime: Runtime, tmp_path: Path) -> None:
    url = runtime.settings.database_url
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(tmp_path), str(tag),
                                 str(PER_PROCESS)])
               for tag in (1, 2)]
    for writer in writers:
        assert writer.wait(timeout=180) == 0
    bed = make_bed(runtime)
    with bed.engine.connect() as conn:
        rows = conn.execute(text("SELECT position, account_id FROM audit_entries "
                                 "ORDER BY position")).all()
    assert [r[0] for r in rows] == list(range(1, 2 * PER_PROCESS + 1))
    order = [r[1] for r in rows]
    assert order.count(1) == order.count(2) == PER_PROCESS
    # The writers really overlapped: each started writing before the other had finished.
    spans = [tuple(map(float, (tmp_path / f"span-{tag}").read_text().split())) for tag in (1, 2)]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    bed.checkpoint(max_entries=50)
    report = bed.verify()
    assert report.ok, report.summary()
    assert (report.entries_checked, report.checkpoints_checked) == (120, 3)
