"""fastloss on a busy machine: call-time percentiles with another process spinning on a core.

    python bench/contention.py [--out bench/results] [--calls 2000]

A training loop calls the loss thousands of times; one slow call in a hundred is what a
user notices.  With OpenMP's default of one thread per core, a call that splits its work
statically waits for the thread whose core another process took.  This script measures,
for float32 MSE ``value_and_grad(..., out=g)`` at 10^5 and 10^6 elements:

- the one-thread median (``n_threads=1``) on a quiet machine, the yardstick;
- default-thread calls (every core) quiet, and with one competing process that spins on a
  core for the whole measurement (a plain Python busy loop in a child process);
- one-thread calls with that competing process: the floor, what the caller's own thread
  suffers from sharing the machine whatever fastloss does;

and reports the median, p90, p99 and maximum of single calls, and p99 / one-thread median
(target of issue 9: at most 3 with one competing process).  Results go to
``<out>/contention.md`` and ``contention.json``.
"""
import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import sys
import time

import numpy as np


def _spin(stop):
    while not stop.is_set():
        for _ in range(100000):
            pass


def _calls(fn, n_calls):
    times = np.empty(n_calls)
    for i in range(n_calls):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return times


def _calm():
    """Forget earlier calls' busy-machine backoff (src/fl_threads.h), so that each row
    measures its own condition from the state a fresh process starts in."""
    from fastloss import _kernels
    if hasattr(_kernels, "_reset_thread_backoff"):
        _kernels._reset_thread_backoff()


def measure(n_calls):
    import fastloss as fl
    rows = []
    for n in (10**5, 10**6):
        rng = np.random.default_rng(0)
        y = rng.standard_normal(n).astype(np.float32)
        p = rng.standard_normal(n).astype(np.float32)
        g = np.empty_like(p)

        def one():
            fl.mse.value_and_grad(y, p, out=g, n_threads=1)

        def default():
            fl.mse.value_and_grad(y, p, out=g)
        for f in (one, default):
            _calls(f, 50)                                     # warm-up
        base = float(np.median(_calls(one, n_calls)))
        _calm()
        quiet = _calls(default, n_calls)
        stop = mp.Event()
        spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
        try:
            time.sleep(0.2)
            _calm()
            busy = _calls(default, n_calls)
            busy_one = _calls(one, n_calls)
        finally:
            stop.set()
            spinner.join(5)
            if spinner.is_alive():
                spinner.terminate()
        for label, t in (("default threads, quiet", quiet),
                         ("default threads, 1 busy process", busy),
                         ("1 thread, 1 busy process (the floor)", busy_one)):
            q = np.percentile(t, [50, 90, 99])
            rows.append({"n": n, "case": label, "one_thread_median": base,
                         "median": float(q[0]), "p90": float(q[1]), "p99": float(q[2]),
                         "max": float(t.max()), "p99_over_one_thread_median":
                         float(q[2] / base)})
    return rows


def _us(s):
    return f"{s * 1e6:.0f} µs" if s < 1e-2 else f"{s * 1e3:.1f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "results"))
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args(argv)
    import fastloss as fl
    start = time.time()
    load0 = os.getloadavg()
    rows = measure(args.calls)
    load1 = os.getloadavg()
    cmd = f"python bench/contention.py --out {args.out} --calls {args.calls}"
    lines = ["# fastloss on a busy machine", "",
             f"Command: `{cmd}`  ",
             f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"
             f" (took {time.time() - start:.1f} s)  ",
             f"Machine: {platform.platform()}, {len(os.sched_getaffinity(0))} cores; "
             f"fastloss {fl.__version__}, default threads "
             f"{fl.config()['default_threads'] if 'default_threads' in fl.config() else 'all'}  ",
             f"Load average (1/5/15 min) at start {', '.join(f'{x:.2f}' for x in load0)}, "
             f"at end {', '.join(f'{x:.2f}' for x in load1)}", "",
             f"float32 MSE `value_and_grad(y, p, out=g)`, {args.calls} single calls per row. "
             "*1-thread median*: `n_threads=1` on the same machine without the competing "
             "process. Target (issue 9): p99 / 1-thread median ≤ 3 with one busy process.", "",
             "| elements | case | 1-thread median | median | p90 | p99 | max | "
             "p99 / 1-thread median |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']:.0e} | {r['case']} | {_us(r['one_thread_median'])} | "
                     f"{_us(r['median'])} | {_us(r['p90'])} | {_us(r['p99'])} | "
                     f"{_us(r['max'])} | {r['p99_over_one_thread_median']:.2f} |"
                     .replace("e+0", "e"))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "contention.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "contention.json"), "w", encoding="utf-8") as fh:
        json.dump({"command": cmd, "rows": rows, "load": [load0, load1]}, fh, indent=1)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
