"""Compile the guard's modules with mypyc into a copy of the source tree (an experiment).

    .venv/bin/python scripts/build_guard_mypyc.py [--out build/mypyc]
    PYTHONPATH=build/mypyc/src .venv/bin/python scripts/bench_guard_engine.py ...
    PYTHONPATH=build/mypyc/src .venv/bin/python -m rempart bench checks ...

Copies `src` to OUT/src and compiles `rempart.guard`'s modules there with mypyc (a dev
dependency through mypy; needs a C compiler), so the repository's own tree is never
shadowed by compiled modules: only a process given OUT/src on its path runs them. The
same source, the same decisions (`bench_guard_engine.py`'s digest); measured in
docs/guard.md, "Leaner hot path" and "The compiled guard, served". `rempart.ratelimit`
(the sliding windows) is compiled too since it imports `Storage` from `limits.storage.base`
(from `limits.storage`, mypyc's C named an undeclared module, mypy 2.4.1). Not part of any
served build: measured served, it did not pay (docs/guard.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every module a check runs through, in memory and in Redis, and the small ones they
# import. Left interpreted: `config` and `persist` (start-up and the snapshot thread, off
# the check path), `models` (SQLAlchemy's declarative classes). `codec` builds plain
# dicts for orjson, which cannot read mypyc's native dataclasses (docs/guard.md).
MODULES = ["alerts", "campaign", "ceilings", "clockwatch", "codec", "context", "counters",
           "decision", "errors", "evidence", "gate", "geo", "guard", "journal", "ladder",
           "learning", "limits_check", "netblock", "operator", "patients", "peers",
           "profile", "rates", "redis_state", "redis_trips", "rungs", "shared", "state",
           "stats", "timeslots"]

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "mypyc")
    parser.add_argument("--opt-level", default="3",
                        help="the C compiler's optimisation (MYPYC_OPT_LEVEL: 0-3, s)")
    args = parser.parse_args()
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT / "src", out / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    mypyc = Path(sys.executable).with_name("mypyc")
    files = [f"rempart/guard/{name}.py" for name in MODULES] + ["rempart/ratelimit.py"]
    env = {**os.environ, "MYPYC_OPT_LEVEL": args.opt_level}
    subprocess.run([str(mypyc), *files], cwd=out / "src", check=True, env=env)  # noqa: S603
    print(f"compiled {len(files)} modules: run with PYTHONPATH={out / 'src'}")


if __name__ == "__main__":
    main()
