"""fastloss on a Dask cluster: loss + gradient against the same formula in dask.array, and
the logistic-regression example's time per iteration against dask-ml.

Part 1 - a chunked float32 problem (default 10^8 elements) on a ``distributed.LocalCluster``
(default two worker processes, one thread each): the mean loss and its gradient, persisted
on the workers (as a training loop keeps them), by

* fastloss: ``loss.value_and_grad(y, z)`` on the Dask arrays (one fused task per chunk);
* the formula a user writes today with ``dask.array`` operations (below), which Dask
  evaluates chunk by chunk with NumPy.

Both results are checked against each other before anything is timed.

Part 2 - the example ``examples/dask_logistic_regression.py``: the time of one Newton
iteration (z = Xw, fused BCE value and gradient, Xᵀg and the d × d Hessian, one compute) and
dask-ml's ``LogisticRegression(solver="newton")`` on the same persisted data, its fit time
divided by its iterations.  If dask-ml is not installed that row says so.

    python bench/dask_bench.py --out bench/results          # writes dask.md and dask.json

Times are medians of ``--repeat`` runs; the data are generated on the workers and persisted
before timing, each target chunk computed from its prediction chunk so that the two live on
one worker (as rows read together do) and no transfer between workers is timed.
"""
import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import uuid

import numpy as np

import dask
import dask.array as da
import distributed
from dask.distributed import Client, LocalCluster, wait

import fastloss as fl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- what a user writes today with dask.array -------------------------------------------------

def bce_logits_formula(y, z):
    """Mean BCE on logits and its gradient, the stable textbook way, in dask.array."""
    loss = (da.maximum(z, 0) - z * y + da.log1p(da.exp(-abs(z)))).mean()
    grad = (1 / (1 + da.exp(-z)) - y) / z.size
    return loss, grad


def mse_formula(y, z):
    d = z - y
    return (d * d).mean(), d * (2 / z.size)


def bce_data(n, chunk, seed):
    """Logits and 0/1 labels; each label chunk is computed from its logit chunk alone, so
    the two live on the same worker (as rows read together do): no transfer is timed."""
    z = da.random.default_rng(seed).standard_normal(n, chunks=chunk, dtype=np.float32) * 3
    y = ((z * 1000) % 1 < 0.5).astype(np.float32)          # a hash of z: ~half ones
    return y, z


def mse_data(n, chunk, seed):
    z = da.random.default_rng(seed).standard_normal(n, chunks=chunk, dtype=np.float32)
    return (da.sin(3 * z) + z).astype(np.float32), z


WORKLOADS = {
    "BCE with logits": (fl.get("binary_cross_entropy", from_logits=True), bce_logits_formula,
                        bce_data),
    "MSE": (fl.get("mse"), mse_formula, mse_data),
}


def _same(block):
    return block


def fresh(x):
    """``x`` under new keys (the same blocks, no copy; fused into the consumer's task), so
    that no repeat can find the previous repeat's results still held by the workers."""
    return x.map_blocks(_same, dtype=x.dtype, name=f"{x.name}-{uuid.uuid4().hex}")


def timed(client, make, y, z, repeat):
    """Median and minimum seconds of persisting (value, gradient) on the workers."""
    times = []
    value = None
    for _ in range(repeat):
        y_i, z_i = fresh(y), fresh(z)
        start = time.perf_counter()
        v, g = client.persist(list(make(y_i, z_i)))
        wait([v, g])
        value = float(v.compute())
        times.append(time.perf_counter() - start)
        del v, g
    return statistics.median(times), min(times), value


def part1(client, n, chunk, repeat, seed=0):
    rows = []
    for name, (loss, formula, data) in WORKLOADS.items():
        y, z = client.persist(list(data(n, chunk, seed)))
        wait([y, z])
        # agreement first: values and a slice of the gradients
        v1, g1 = loss.value_and_grad(y, z)
        v2, g2 = formula(y, z)
        v1, v2, s1, s2 = dask.compute(v1, v2, g1[:100_000], g2[:100_000])
        assert abs(v1 - v2) <= 1e-5 * abs(v2), (name, v1, v2)
        scale = float(np.abs(s2).max())
        assert float(np.abs(s1 - s2).max()) <= 1e-5 * scale, name
        fast = timed(client, loss.value_and_grad, y, z, repeat)
        slow = timed(client, formula, y, z, repeat)
        rows.append({"workload": name, "elements": n, "chunk": chunk,
                     "chunks": len(z.chunks[0]), "fastloss_s": fast[0], "fastloss_min_s": fast[1],
                     "formula_s": slow[0], "formula_min_s": slow[1],
                     "speedup": slow[0] / fast[0], "value": v1})
        print(f"{name}: fastloss {fast[0]:.3f} s, dask.array formula {slow[0]:.3f} s "
              f"({slow[0] / fast[0]:.2f}x)", flush=True)
        del y, z
    return rows


def load_example():
    path = os.path.join(ROOT, "examples", "dask_logistic_regression.py")
    spec = importlib.util.spec_from_file_location("dask_logistic_regression", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def part2(client, n, d, chunk, iterations, repeat):
    example = load_example()
    X, y, _ = example.make_data(n, d, chunk, seed=0)
    X, y = client.persist([X, y])
    wait([X, y])
    w = np.zeros(d, np.float32)
    example.newton_step(X, y, w, 1e-4)                     # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()                        # w changes: new keys each time
        _, w_next, _ = example.newton_step(X, y, w, 1e-4)
        times.append(time.perf_counter() - start)
        w = w_next.astype(np.float32)
    row = {"rows": n, "features": d, "chunk": chunk, "iterations": iterations,
           "fastloss_newton_s": statistics.median(times)}
    try:
        from dask_ml.linear_model import LogisticRegression
        import dask_ml
    except Exception as exc:                               # noqa: BLE001 - reported as is
        row["dask_ml"] = f"not installed ({type(exc).__name__}: {exc})"
        print(f"logistic regression: fastloss Newton {row['fastloss_newton_s']:.3f} s per "
              f"iteration; dask-ml: {row['dask_ml']}", flush=True)
        return row
    per_iteration = []
    for _ in range(repeat):
        model = LogisticRegression(solver="newton", max_iter=iterations, tol=0.0,
                                   fit_intercept=False)
        start = time.perf_counter()
        model.fit(X, y)
        per_iteration.append((time.perf_counter() - start) / iterations)
    row["dask_ml"] = f"dask-ml {dask_ml.__version__}"
    row["dask_ml_newton_s"] = statistics.median(per_iteration)
    row["ratio"] = row["dask_ml_newton_s"] / row["fastloss_newton_s"]
    print(f"logistic regression: fastloss Newton {row['fastloss_newton_s']:.3f} s, dask-ml "
          f"newton {row['dask_ml_newton_s']:.3f} s per iteration ({row['ratio']:.2f}x)",
          flush=True)
    return row


def cpu_name():
    from harness import _cpu_model      # bench/ is on sys.path: this runs as a script
    return _cpu_model()


def _e(x):
    return f"{x:.0e}".replace("e+0", "e").replace("e+", "e")


def report(result, command):
    lines = [
        "# fastloss on a Dask cluster",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {result['machine']}; LocalCluster of {result['workers']} worker processes "
        f"× {result['threads_per_worker']} thread; Python {result['python']}, dask "
        f"{result['dask']}, distributed {result['distributed']}, numpy {result['numpy']}.",
        "Times are medians over the repeats (minimum in brackets), in seconds, of computing "
        "the mean loss and its gradient and persisting both on the workers; the inputs are "
        "generated on the workers (each target chunk next to its prediction chunk) and "
        "persisted first.",
        f"Load average of the machine (1 min) at the start and end of the run: "
        f"{result['load_start']:.1f} and {result['load_end']:.1f} (on a shared machine the "
        f"absolute times are inflated; compare the ratios).",
        "",
        "| workload | elements (float32) | chunks | fastloss | dask.array formula | "
        "speed-up (medians) | speed-up (minima) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["loss_and_gradient"]:
        lines.append(f"| {r['workload']} | {_e(r['elements'])} | {r['chunks']} × {_e(r['chunk'])} "
                     f"| {r['fastloss_s']:.3f} ({r['fastloss_min_s']:.3f}) | {r['formula_s']:.3f} "
                     f"({r['formula_min_s']:.3f}) | {r['speedup']:.2f}x | "
                     f"{r['formula_min_s'] / r['fastloss_min_s']:.2f}x |")
    lr = result.get("logistic_regression")
    if lr:
        lines += ["", "Logistic regression, time per Newton iteration "
                  f"({_e(lr['rows'])} rows × {lr['features']} features, float32, chunks of "
                  f"{_e(lr['chunk'])} rows; dask-ml's fit time divided by its "
                  f"{lr['iterations']} iterations):", "",
                  "| fastloss example (`examples/dask_logistic_regression.py`) | dask-ml "
                  "`LogisticRegression(solver=\"newton\")` | dask-ml / fastloss |",
                  "|---:|---:|---:|"]
        if "dask_ml_newton_s" in lr:
            lines.append(f"| {lr['fastloss_newton_s']:.3f} s | {lr['dask_ml_newton_s']:.3f} s "
                         f"({lr['dask_ml']}) | {lr['ratio']:.2f}x |")
        else:
            lines.append(f"| {lr['fastloss_newton_s']:.3f} s | {lr['dask_ml']} | – |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e8, help="elements of part 1 (float32)")
    parser.add_argument("--chunk", type=float, default=5e6, help="elements per chunk")
    parser.add_argument("--lr-rows", type=float, default=2e6, help="rows of part 2")
    parser.add_argument("--lr-features", type=int, default=10)
    parser.add_argument("--lr-chunk", type=float, default=1e5)
    parser.add_argument("--lr-iterations", type=int, default=5,
                        help="dask-ml iterations per timed fit")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--address", default=None,
                        help="an existing scheduler instead of a LocalCluster")
    parser.add_argument("--out", default=None, help="directory for dask.md and dask.json")
    parser.add_argument("--from-json", default=None,
                        help="only redraw the table from a dask.json written before")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            result = json.load(fh)
        text = report(result, result["command"])
        print(text)
        if args.out:
            with open(os.path.join(args.out, "dask.md"), "w") as fh:
                fh.write(text)
        return
    command = "python bench/dask_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])

    cluster = None
    if args.address is None:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                               processes=True, host="127.0.0.1", dashboard_address=None)
    with Client(args.address or cluster) as client:
        result = {
            "machine": f"{cpu_name()}, {os.cpu_count()} CPUs",
            "workers": len(client.scheduler_info()["workers"]),
            "threads_per_worker": args.threads_per_worker,
            "python": platform.python_version(), "dask": dask.__version__,
            "distributed": distributed.__version__, "numpy": np.__version__,
            "fastloss_backend": fl.backend, "load_start": os.getloadavg()[0],
        }
        result["loss_and_gradient"] = part1(client, int(args.n), int(args.chunk), args.repeat)
        result["logistic_regression"] = part2(client, int(args.lr_rows), args.lr_features,
                                              int(args.lr_chunk), args.lr_iterations,
                                              args.repeat)
        result["load_end"] = os.getloadavg()[0]
    if cluster is not None:
        cluster.close()
    text = report(result, command)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "dask.md"), "w") as fh:
            fh.write(text)
        with open(os.path.join(args.out, "dask.json"), "w") as fh:
            json.dump(dict(result, command=command), fh, indent=1)


if __name__ == "__main__":
    main()
