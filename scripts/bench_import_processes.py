"""`rempart bench import` with the CPU of every process it involves, from /proc.

    PYTHONPATH=src python scripts/bench_import_processes.py --people N [--postgres]
        [--workers W]

Runs the bench's own run_import_bench and prints its JSON figures plus, per person
(per row for the baseline): the PostgreSQL backends and autovacuum workers of the
bench's database (found by its name in their command lines, so other engineers'
benches on the same server are not counted) during the import and during the
baseline, the server-wide background processes (checkpointer, background writer, WAL
writer), this process's CPU during the baseline, and the wall time of each. `states`
counts, every 50 ms during the import, the scheduler state of this process, of its
workers and of the bench's backend (R running or runnable, S waiting, D in I/O): the
share of S is the time a process waited for another. The sampling thread runs in this
process: its own CPU is reported (`cpu_us_sampling_import`) and taken out of
`cpu_us_per_person_main_without_sampling` and `cpu_us_main_baseline`.
"""
import argparse
import json
import os
import resource
import threading
import time
from contextlib import contextmanager

from rempart.bench import import_bench

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError):
        return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class PgSampler(threading.Thread):
    """Last seen CPU of each postgres process, by role ('bench' = names the bench db)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.states = {}  # role -> {state letter: samples}, during the import only
        self.importing = False
        self.dbname = None  # this run's database: other engineers run benches too
        self.seen = {}  # pid -> (role, cpu)
        self.roles = {}  # pid -> role, or None for a process of no interest
        self.stop = False
        self.lock = threading.Lock()
        self.own_cpu = 0.0  # this thread's CPU so far: it runs in the importing process

    def scan(self):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            role = self.roles.get(pid, "")
            if role == "":
                role = self.classify(pid)
            if role is None:
                continue
            cpu = proc_cpu(pid)
            if self.importing and role == "bench_backend":
                self.count(role, pid)
            if cpu is not None:
                with self.lock:
                    self.seen[pid] = (role, cpu)

    def classify(self, pid):
        """The process's role, remembered once its title says (a backend just forked
        still carries the server's command line, and is looked at again)."""
        line = cmdline(pid)
        if self.dbname and f" {self.dbname} " in line and line.startswith("postgres:"):
            role = "bench_autovacuum" if "autovacuum" in line else "bench_backend"
        elif line.startswith("postgres:") and any(
                w in line for w in ("checkpointer", "background writer", "walwriter")):
            role = "server_background"
        elif line.startswith("postgres:") and self.dbname:
            role = None  # another database's process: a title names its database for good
        elif "postgres" in line:
            return None  # not titled yet: looked at again next time
        else:
            role = None
        self.roles[pid] = role
        return role

    def count(self, role, pid):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        per = self.states.setdefault(role, {})
        per[state] = per.get(state, 0) + 1

    def run(self):
        me = os.getpid()
        while not self.stop:
            self.scan()
            if self.importing:
                self.count("main", me)
                try:
                    with open(f"/proc/{me}/task/{me}/children") as fh:
                        for child in fh.read().split():
                            self.count("worker", int(child))
                except OSError:
                    pass
            self.own_cpu = time.thread_time()
            time.sleep(0.05)

    def totals(self):
        self.scan()
        with self.lock:
            out = {}
            for role, cpu in self.seen.values():
                out[role] = out.get(role, 0.0) + cpu
            return out


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL at 127.0.0.1:5432/test (trust)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    people, pg = args.people, args.postgres
    sampler = PgSampler()
    sampler.start()
    marks = {}

    def on_stage(text):
        marks[text.split()[0]] = (time.perf_counter(), self_cpu(), sampler.totals(),
                                  sampler.own_cpu)
        sampler.importing = text.startswith("importing")

    fresh = import_bench._fresh_postgres

    @contextmanager
    def named(url):
        with fresh(url) as made:
            sampler.dbname = made.rsplit("/", 1)[1]
            yield made

    import_bench._fresh_postgres = named
    load_before = os.getloadavg()
    started_utc = time.strftime("%H:%M:%S", time.gmtime())
    figures = import_bench.run_import_bench(
        people=people, database_url="postgresql://postgres@127.0.0.1:5432/test" if pg else None,
        on_stage=on_stage, workers=args.workers)
    end = (time.perf_counter(), self_cpu(), sampler.totals(), sampler.own_cpu)
    sampler.stop = True
    out = figures.as_dict()
    out["started_utc"] = started_utc
    out["load_before"] = [round(x, 2) for x in load_before]
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    imp, base = marks["importing"], marks["baseline"]

    def delta(a, b, role):
        return b[2].get(role, 0.0) - a[2].get(role, 0.0)

    n = people
    for role in ("bench_backend", "bench_autovacuum", "server_background"):
        out[f"cpu_us_{role}_import"] = round(delta(imp, base, role) / n * 1e6, 2)
        out[f"cpu_us_{role}_baseline"] = round(delta(base, end, role) / n * 1e6, 2)
    # This process's figures without the sampling thread's own CPU (it reads /proc).
    sampling_import, sampling_baseline = base[3] - imp[3], end[3] - base[3]
    out["cpu_us_sampling_import"] = round(sampling_import / n * 1e6, 2)
    out["cpu_us_per_person_main_without_sampling"] = round(
        figures.cpu_us_per_person_main - sampling_import / n * 1e6, 2)
    out["cpu_us_main_baseline"] = round((end[1] - base[1] - sampling_baseline) / n * 1e6, 2)
    out["wall_us_import"] = round((base[0] - imp[0]) / n * 1e6, 2)
    out["wall_us_baseline"] = round((end[0] - base[0]) / n * 1e6, 2)
    out["src"] = import_bench.__file__
    out["states"] = sampler.states
    print(json.dumps(out))


if __name__ == "__main__":
    main()
