"""Gradient-boosting objectives: fastloss.gbdt against the NumPy objectives users write.

From the repository root (with xgboost and lightgbm installed, the ``gbdt`` extra):

    python bench/gbdt.py                       # writes bench/results/gbdt.{json,md}
    python bench/gbdt.py --quick               # smaller sizes, fewer repeats (a smoke run)
    python bench/gbdt.py --threads 2 --train-binary-rows 1000000 --train-multi-rows 100000

Every library and fastloss run on ``--threads`` threads (default 1: on a shared machine a
second OpenMP team mostly waits for a descheduled core; XGBoost's and fastloss's OpenMP
runtimes also spin against each other).

Two measurements:

1. **Objective time per boosting round**: the time of one call ``obj(predt, dtrain)`` on a
   real ``xgboost.DMatrix`` (labels read from it, as in training), for fastloss's objective
   and for the NumPy forms of the documentation and of the issue trackers:
   - binary logistic, 10^6 rows: the tutorial objective (sigmoid, p - y, p (1 - p));
   - binary focal loss (gamma = 2), 10^6 rows: its analytic NumPy gradient and Hessian;
   - softmax, 10^5 rows x 10 classes: the vectorised NumPy form with an ``np.eye(k)[labels]``
     one-hot, and XGBoost's ``custom_softmax`` demo (a Python loop over rows, as
     documented; timed on ``--demo-rows`` rows, fastloss on the same rows).
   Best of ``--repeat`` calls after a warm-up.  fastloss is timed on ``--threads`` threads
   and again on its default thread count (all cores: what a user gets without asking); the
   NumPy forms run on one core whatever is asked.
2. **Whole training** (``--rounds`` rounds, hist trees of depth 6 / 63 leaves on 20 random
   features, ``--train-binary-rows`` and ``--train-multi-rows`` rows): the built-in C++
   objective, the fastloss objective and the vectorised NumPy objective, for XGBoost and
   LightGBM.  Median of ``--train-repeat`` runs.

Timings depend on the machine and its load; the results file records both.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import fastloss
from fastloss.gbdt import lightgbm_objective, xgboost_objective


# ---- the NumPy objectives users write (the documented tutorial forms) ------------------------

def numpy_logistic(predt, dtrain):
    """XGBoost's tutorial logistic objective."""
    y = dtrain.get_label()
    p = 1.0 / (1.0 + np.exp(-predt))
    return p - y, p * (1.0 - p)


def numpy_focal(gamma):
    """Binary focal loss on the margin z, analytic gradient and Hessian in NumPy (the form
    blog posts and issue threads derive; numerically careless exactly where they are)."""
    def objective(predt, dtrain):
        y = dtrain.get_label()
        p = 1.0 / (1.0 + np.exp(-predt))
        pt = np.where(y == 1, p, 1 - p)
        s = np.where(y == 1, 1.0, -1.0)
        ce = -np.log(np.clip(pt, 1e-12, 1.0))
        m = 1 - pt
        # dL/dz with dpt/dz = s p (1 - p)
        dpt = s * p * (1 - p)
        dce = -dpt / np.clip(pt, 1e-12, 1.0)
        dm = -dpt
        mg = m ** gamma
        grad = gamma * m ** (gamma - 1) * dm * ce + mg * dce
        d2pt = s * p * (1 - p) * (1 - 2 * p)
        d2ce = -(d2pt * pt - dpt * dpt) / np.clip(pt, 1e-12, 1.0) ** 2
        d2m = -d2pt
        hess = (gamma * (gamma - 1) * m ** np.maximum(gamma - 2, 0) * dm * dm * ce
                + gamma * m ** (gamma - 1) * (d2m * ce + 2 * dm * dce) + mg * d2ce)
        return grad, np.maximum(hess, 1e-16)
    return objective


def xgboost_demo_softprob(n_classes):
    """XGBoost's ``custom_softmax`` demo objective, as documented (a loop over rows)."""
    def softmax(x):
        e = np.exp(x)
        return e / np.sum(e)

    def objective(predt, data):
        labels = data.get_label()
        weights = np.ones((predt.shape[0], 1), dtype=float)
        grad = np.zeros((predt.shape[0], n_classes), dtype=float)
        hess = np.zeros((predt.shape[0], n_classes), dtype=float)
        eps = 1e-6
        for r in range(predt.shape[0]):
            target = labels[r]
            p = softmax(predt[r, :])
            for c in range(predt.shape[1]):
                g = p[c] - 1.0 if c == target else p[c]
                h = max((2.0 * p[c] * (1.0 - p[c]) * weights[r]).item(), eps)
                grad[r, c] = g
                hess[r, c] = h
        return grad, hess
    return objective


def numpy_softprob(predt, data):
    """The vectorised NumPy softmax objective with a one-hot of the labels every round."""
    labels = data.get_label().astype(np.int64)
    z = predt - predt.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(predt.shape[1])[labels]
    return p - onehot, np.maximum(2.0 * p * (1.0 - p), 1e-16)


# ---- measuring ------------------------------------------------------------------------------

def agree(numpy_obj, fl_obj, z, d):
    """Every NumPy form computes what fastloss computes (checked before timing)."""
    for a, b in zip(numpy_obj(z, d), fl_obj(z, d)):
        np.testing.assert_allclose(np.asarray(a, np.float64).reshape(b.shape),
                                   b.astype(np.float64), rtol=1e-4, atol=2e-6)


def best_of(fn, repeat):
    fn()                                   # warm-up (and buffers, for fastloss)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def objective_times(args):
    import xgboost as xgb
    rng = np.random.default_rng(0)
    rows = []
    n = args.binary_rows
    y = (rng.random(n) < 0.3).astype(np.float32)
    d = xgb.DMatrix(np.zeros((n, 1), np.float32), y)
    z = rng.normal(scale=2.0, size=n).astype(np.float32)
    for label, numpy_obj, name, params in [
            ("binary logistic", numpy_logistic, "binary_cross_entropy", {}),
            ("binary focal (gamma=2)", numpy_focal(2.0), "binary_focal", {"gamma": 2.0})]:
        fl_obj = xgboost_objective(name, n_threads=args.threads, **params)
        fl_all = xgboost_objective(name, **params)
        agree(numpy_obj, fl_obj, z, d)
        t_np = best_of(lambda: numpy_obj(z, d), args.repeat)
        t_fl = best_of(lambda: fl_obj(z, d), args.repeat)
        t_all = best_of(lambda: fl_all(z, d), args.repeat)
        rows.append({"objective": label, "shape": f"{n:,}", "numpy_form": "NumPy (vectorised)",
                     "numpy_s": t_np, "fastloss_s": t_fl, "fastloss_default_s": t_all})
    n, k = args.multi_rows, args.classes
    y = rng.integers(0, k, size=n).astype(np.float32)
    d = xgb.DMatrix(np.zeros((n, 1), np.float32), y)
    z = rng.normal(size=(n, k)).astype(np.float32)
    fl_obj = xgboost_objective("softmax", n_threads=args.threads)
    fl_all = xgboost_objective("softmax")
    agree(numpy_softprob, fl_obj, z, d)
    t_fl = best_of(lambda: fl_obj(z, d), args.repeat)
    t_all = best_of(lambda: fl_all(z, d), args.repeat)
    t_np = best_of(lambda: numpy_softprob(z, d), args.repeat)
    rows.append({"objective": "softmax", "shape": f"{n:,} x {k}",
                 "numpy_form": "NumPy (vectorised, np.eye one-hot)", "numpy_s": t_np,
                 "fastloss_s": t_fl, "fastloss_default_s": t_all})
    demo = xgboost_demo_softprob(k)
    m = min(args.demo_rows, n)
    zs, ds = z[:m], xgb.DMatrix(np.zeros((m, 1), np.float32), y[:m])
    agree(lambda z, d: tuple(np.maximum(x, 1e-6) if i else x for i, x in enumerate(demo(z, d))),
          lambda z, d: tuple(np.maximum(x, 1e-6) if i else x for i, x in enumerate(fl_obj(z, d))),
          zs, ds)
    t_demo = best_of(lambda: demo(zs, ds), 1)
    t_fl = best_of(lambda: fl_obj(zs, ds), args.repeat)
    t_all = best_of(lambda: fl_all(zs, ds), args.repeat)
    rows.append({"objective": "softmax", "shape": f"{m:,} x {k}",
                 "numpy_form": "XGBoost custom_softmax demo (row loop)", "numpy_s": t_demo,
                 "fastloss_s": t_fl, "fastloss_default_s": t_all})
    return rows


def median_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def training_times(args):
    import lightgbm as lgb
    import xgboost as xgb
    rng = np.random.default_rng(1)
    rows = []
    threads = args.threads
    for task, n, k in [("binary", args.train_binary_rows, 1),
                       ("softmax", args.train_multi_rows, args.classes)]:
        X = rng.normal(size=(n, 20)).astype(np.float32)
        signal = X[:, :k].sum(axis=1) if k == 1 else X[:, :k]
        if k == 1:
            y = (signal + rng.normal(size=n) > 0).astype(np.float32)
        else:
            y = np.argmax(signal + rng.normal(size=(n, k)), axis=1).astype(np.float32)
        margin = np.zeros(n if k == 1 else (n, k), np.float32)
        dtrain = xgb.DMatrix(X, y, base_margin=margin)
        params = {"max_depth": 6, "eta": 0.3, "tree_method": "hist", "nthread": threads,
                  **({"num_class": k} if k > 1 else {})}
        builtin = "binary:logistic" if k == 1 else "multi:softprob"
        name = "binary_cross_entropy" if k == 1 else "softmax"
        numpy_obj = numpy_logistic if k == 1 else numpy_softprob
        t_builtin = median_of(lambda: xgb.train({**params, "objective": builtin}, dtrain,
                                                args.rounds), args.train_repeat)
        t_fl = median_of(lambda: xgb.train(params, dtrain, args.rounds,
                                           obj=xgboost_objective(name, n_threads=threads)),
                         args.train_repeat)
        t_np = median_of(lambda: xgb.train(params, dtrain, args.rounds, obj=numpy_obj),
                         args.train_repeat)
        rows.append({"library": f"XGBoost {xgb.__version__}", "task": task,
                     "shape": f"{n:,} x 20" + (f", {k} classes" if k > 1 else ""),
                     "builtin_s": t_builtin, "fastloss_s": t_fl, "numpy_s": t_np})

        lparams = {"num_leaves": 63, "learning_rate": 0.3, "verbose": -1,
                   "num_threads": threads, "boost_from_average": False,
                   **({"num_class": k} if k > 1 else {})}
        lbuiltin = "binary" if k == 1 else "multiclass"
        dset = lgb.Dataset(X, y, free_raw_data=False).construct()

        def lgb_numpy(preds, data, _obj=numpy_obj):
            return _obj(preds, data)

        t_builtin = median_of(lambda: lgb.train({**lparams, "objective": lbuiltin}, dset,
                                                args.rounds), args.train_repeat)
        t_fl = median_of(lambda: lgb.train(
            {**lparams, "objective": lightgbm_objective(name, n_threads=threads)}, dset,
            args.rounds), args.train_repeat)
        t_np = median_of(lambda: lgb.train({**lparams, "objective": lgb_numpy}, dset,
                                           args.rounds), args.train_repeat)
        rows.append({"library": f"LightGBM {lgb.__version__}", "task": task,
                     "shape": f"{n:,} x 20" + (f", {k} classes" if k > 1 else ""),
                     "builtin_s": t_builtin, "fastloss_s": t_fl, "numpy_s": t_np})
    return rows


def render(result):
    ms = lambda s: f"{1e3 * s:,.1f}"          # noqa: E731
    lines = [f"# Gradient-boosting objectives", "",
             f"Command: `{result['command']}`  ",
             f"Machine: {result['machine']}; fastloss {result['fastloss']} "
             f"(backend {result['backend']}, SIMD {result['simd']}, "
             f"{result['threads']} threads); load average (1 min) "
             f"{result.get('load_start', '?')} at start, {result.get('load_end', '?')} at end.",
             "",
             "## Objective time per boosting round (one call on an XGBoost DMatrix)", "",
             f"fastloss on {result['threads']} thread(s), and on its default thread count "
             f"({result.get('default_threads', '?')}); the NumPy forms use one core.", "",
             f"| objective | rows | NumPy form | NumPy (ms) | fastloss, {result['threads']} "
             f"thread (ms) | speed-up | fastloss, default threads (ms) | speed-up |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in result["objective"]:
        lines.append(f"| {r['objective']} | {r['shape']} | {r['numpy_form']} | "
                     f"{ms(r['numpy_s'])} | {ms(r['fastloss_s'])} | "
                     f"{r['numpy_s'] / r['fastloss_s']:.1f}x | "
                     f"{ms(r['fastloss_default_s'])} | "
                     f"{r['numpy_s'] / r['fastloss_default_s']:.1f}x |")
    lines += ["", f"## Whole training ({result['rounds']} rounds)", "",
              "| library | task | data | built-in (s) | fastloss objective (s) | "
              "ratio to built-in | NumPy objective (s) |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in result["training"]:
        lines.append(f"| {r['library']} | {r['task']} | {r['shape']} | "
                     f"{r['builtin_s']:.2f} | {r['fastloss_s']:.2f} | "
                     f"{r['fastloss_s'] / r['builtin_s']:.2f}x | {r['numpy_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python bench/gbdt.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller, fewer repeats")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "results"))
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of XGBoost, LightGBM and fastloss (default 1)")
    parser.add_argument("--train-binary-rows", type=int, default=None,
                        help="rows of the binary training run (default: 10^6)")
    parser.add_argument("--train-multi-rows", type=int, default=None,
                        help="rows of the 10-class training run (default: 10^5)")
    parser.add_argument("--demo-rows", type=int, default=10_000,
                        help="rows for XGBoost's row-loop softmax demo")
    parser.add_argument("--train-repeat", type=int, default=None)
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    args.binary_rows = 1_000_000 // scale
    args.multi_rows = 100_000 // scale
    args.train_binary_rows = args.train_binary_rows or args.binary_rows
    args.train_multi_rows = args.train_multi_rows or args.multi_rows
    args.classes = 10
    args.repeat = 3 if args.quick else 7
    args.train_repeat = args.train_repeat or (1 if args.quick else 3)
    args.rounds = 20
    load_start = f"{os.getloadavg()[0]:.2f}"
    result = {
        "command": "python bench/gbdt.py" + (" " + " ".join(argv) if argv else ""),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "fastloss": fastloss.__version__, "backend": fastloss.backend,
        "simd": fastloss.config().get("simd", "?"), "threads": args.threads,
        "rounds": args.rounds,
        "objective": objective_times(args),
        "training": training_times(args),
        "load_start": load_start, "load_end": f"{os.getloadavg()[0]:.2f}",
        "default_threads": fastloss.config().get("default_threads", "?"),
    }
    os.makedirs(args.out, exist_ok=True)
    stem = "gbdt-quick" if args.quick else "gbdt"
    with open(os.path.join(args.out, stem + ".json"), "w") as fh:
        json.dump(result, fh, indent=1)
    text = render(result)
    with open(os.path.join(args.out, stem + ".md"), "w") as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
