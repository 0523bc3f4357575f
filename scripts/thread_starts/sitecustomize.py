"""Probe: thread starts and late loop heartbeats in a served process (docs/performance.md,
"Threads started before serving").

Put this directory first on the server's PYTHONPATH (the bench passes its environment
on to its servers) and set POOLSTART_PROBE_DIR; without it, nothing is changed. Wraps
threading.Thread.start (who called it, how long it took) and asyncio._set_running_loop
(to find the loop, before uvloop imports it), then beats every 20 ms on the loop and
records beats > 40 ms late. At exit writes
<dir>/<pid>.json if the process ran a loop: {"argv", "t0" (monotonic), "starts": [{"at"
(s after t0), "ms", "name", "on_loop", "stack"}], "late": [{"at", "late_ms"}]}.
"""
import os

_DIR = os.environ.get("POOLSTART_PROBE_DIR")
if _DIR:
    import asyncio
    import asyncio.events
    import atexit
    import json
    import sys
    import threading
    import time

    _T0 = time.monotonic()
    _starts = []
    _late = []
    _state = {"loop_ident": None, "loop": None, "inside_start": None}
    _orig_start = threading.Thread.start

    def _frames():
        f = sys._getframe(2)
        out = []
        while f is not None and len(out) < 40:
            out.append(f"{f.f_code.co_name}@{os.path.basename(f.f_code.co_filename)}")
            f = f.f_back
        return out

    def _start(self, *a, **k):
        on_loop = threading.get_ident() == _state["loop_ident"]
        t0 = time.monotonic()
        if on_loop:
            _state["inside_start"] = t0
        try:
            return _orig_start(self, *a, **k)
        finally:
            t1 = time.monotonic()
            if on_loop:
                _state["inside_start"] = None
            _starts.append({"at": round(t0 - _T0, 4), "ms": round((t1 - t0) * 1000, 2),
                            "name": self.name, "on_loop": on_loop,
                            "stack": _frames()[:12]})

    threading.Thread.start = _start

    _orig_set = asyncio.events._set_running_loop

    def _beat(loop, expected):
        now = time.monotonic()
        late = now - expected
        if late > 0.04:
            _late.append({"at": round(now - _T0, 4), "late_ms": round(late * 1000, 1)})
        loop.call_later(0.02, _beat, loop, now + 0.02)

    def _set_running_loop(loop):
        _orig_set(loop)
        if loop is not None and _state["loop"] is None:
            _state["loop"] = loop
            _state["loop_ident"] = threading.get_ident()
            loop.call_soon(_beat, loop, time.monotonic())

    asyncio.events._set_running_loop = _set_running_loop
    asyncio._set_running_loop = _set_running_loop

    def _dump():
        if _state["loop"] is None:
            return
        with open(os.path.join(_DIR, f"{os.getpid()}.json"), "w") as out:
            json.dump({"argv": sys.argv, "t0": _T0, "starts": _starts, "late": _late}, out)

    atexit.register(_dump)
    # uvicorn re-raises the SIGTERM it caught once shut down: no atexit then.
    import signal
    _orig_raise = signal.raise_signal

    def _raise_signal(sig):
        _dump()
        _orig_raise(sig)

    signal.raise_signal = _raise_signal
