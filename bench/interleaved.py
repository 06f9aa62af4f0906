"""Small-batch A/B: fastloss against the hand-written Numba kernel, timed interleaved.

    python bench/interleaved.py [--out bench/results]

The full benchmark times each (peer, threads) pair in its own process one after the other,
so a microsecond-sized row can be disturbed by whatever else the machine did during that
peer's turn.  Here both run in one process pinned to one core, alternating in 30 rounds of
many calls each, so that a disturbance hits both alike; the median over rounds is reported.
Sizes: the full benchmark's 10^3 and 10^5 elements, float32 and float64, one thread,
``value_and_grad(..., out=g)`` against the Numba peer's kernel from ``peers.py``.
"""
import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def measure(rounds=30):
    import numba
    import fastloss as fl
    from peers import NUMBA_KERNELS
    numba.set_num_threads(1)
    rows = []
    for name in ("mse", "huber"):
        kernel = numba.njit(parallel=True, fastmath=True)(NUMBA_KERNELS[name])
        extra = (1.0,) if name == "huber" else ()
        loss = getattr(fl, name)
        for dtype in ("float32", "float64"):
            for n in (1000, 100000):
                rng = np.random.default_rng(0)
                y = rng.standard_normal(n).astype(dtype)
                p = rng.standard_normal(n).astype(dtype)
                g, g2 = np.empty_like(p), np.empty_like(p)
                v = loss.value_and_grad(y, p, out=g, n_threads=1)[0]
                v2 = kernel(y, p, g2, *extra)
                assert np.isclose(v, v2, rtol=1e-5) and np.allclose(g, g2, rtol=1e-4,
                                                                    atol=1e-12)

                def a():
                    loss.value_and_grad(y, p, out=g, n_threads=1)

                def b():
                    kernel(y, p, g2, *extra)
                reps = max(10, 200000 // n)
                ta, tb = [], []
                for _ in range(rounds):
                    for fn, t in ((a, ta), (b, tb)):
                        t0 = time.perf_counter()
                        for _ in range(reps):
                            fn()
                        t.append((time.perf_counter() - t0) / reps)
                rows.append((name, dtype, n, float(np.median(ta)), float(np.median(tb))))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "results"))
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    start = time.time()
    rows = measure()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    lines = ["# fastloss vs the Numba kernel, timed interleaved (one pinned thread)", "",
             f"Command: `python bench/interleaved.py --out {args.out}`  ",
             f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"
             f" (took {time.time() - start:.1f} s)  ",
             f"Machine: {platform.processor() or platform.machine()}, {platform.platform()}; "
             f"load average at end {', '.join(f'{x:.2f}' for x in load)}", "",
             "Median over 30 alternating rounds of `value_and_grad(y, p, out=g, n_threads=1)` "
             "and the Numba peer's fused kernel (`bench/peers.py`).", "",
             "| loss | dtype | size | fastloss | numba | numba / fastloss |",
             "|---|---|---|---:|---:|---:|"]
    for name, dtype, n, ta, tb in rows:
        lines.append(f"| {name} | {dtype} | {n:.0e} | {ta * 1e6:.2f} µs | {tb * 1e6:.2f} µs | "
                     f"{tb / ta:.2f} |".replace("e+0", "e"))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "interleaved.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
