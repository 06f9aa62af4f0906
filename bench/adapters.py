"""The loss inside a training step: fastloss's framework adapters vs the framework's own loss.

    python bench/adapters.py --out bench/results          # ~3 minutes
    python bench/adapters.py --quick                      # smaller sizes only

What is timed is the loss's share of one training step, forward + backward, on the CPU in
float32: for PyTorch, ``loss = criterion(logits, target); loss.backward()`` on a leaf
tensor that requires grad (``fastloss.torch.<Module>`` vs ``torch.nn.<Module>``); for JAX,
``jax.jit(jax.value_and_grad(loss))`` (``fastloss.jax.get(...)`` vs optax's loss and
``.mean()``).  Each cell is the median over repeated runs (each run long enough to be
timed, >= 20 ms, as ``timeit.Timer.autorange``), on the same thread count for both sides
(``--threads``: ``torch.set_num_threads`` and ``threadpoolctl`` for fastloss's OpenMP;
XLA's CPU thread pool is not limited by either).  The adapter's overhead is the adapter
time minus fastloss's own ``value_and_grad(..., out=buf)`` on the same NumPy arrays.
Values and gradients are checked against the framework's before anything is timed.

Run as a script with the fastloss to time importable (installed, or ``PYTHONPATH=.`` for
an in-place build).  Results: ``adapters.json`` and ``adapters.md`` in ``--out``.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

WORKLOADS = [
    # (id, label, shape, size class)
    ("ce", "CrossEntropyLoss (class indices)", (128, 10), "small"),
    ("ce", "CrossEntropyLoss (class indices)", (8192, 128), "large"),
    ("ce", "CrossEntropyLoss (class indices)", (512, 32768), "large"),
    ("bce", "BCEWithLogitsLoss", (1000,), "small"),
    ("bce", "BCEWithLogitsLoss", (8192, 128), "large"),
    ("bce", "BCEWithLogitsLoss", (10_000_000,), "large"),
    ("mse", "MSELoss", (1000,), "small"),
    ("mse", "MSELoss", (8192, 128), "large"),
    ("mse", "MSELoss", (10_000_000,), "large"),
]


def inputs(wid, shape, rng):
    z = (2 * rng.normal(size=shape)).astype(np.float32)
    if wid == "ce":
        return rng.integers(0, shape[-1], size=shape[:-1]), z
    if wid == "bce":
        return (rng.random(shape) < 0.5).astype(np.float32), z
    return rng.normal(size=shape).astype(np.float32), z


def median_time(fn, repeat):
    """Median seconds per call: each sample runs fn enough times to last >= 20 ms."""
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= 0.02:
            break
        number *= 2
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def fastloss_direct(wid, y, z):
    import fastloss as fl
    loss = fl.get({"ce": "CrossEntropyLoss", "bce": "BCEWithLogitsLoss", "mse": "mse"}[wid])
    buf = np.empty_like(z)
    return lambda: loss.value_and_grad(y, z, out=buf)


def torch_pair(wid, y, z):
    import torch
    import fastloss.torch as flt
    name = {"ce": "CrossEntropyLoss", "bce": "BCEWithLogitsLoss", "mse": "MSELoss"}[wid]
    target = torch.from_numpy(y)
    logits = torch.from_numpy(z.copy()).requires_grad_()

    def step(criterion):
        def run():
            logits.grad = None
            criterion(logits, target).backward()
        return run

    ours, theirs = getattr(flt, name)(), getattr(torch.nn, name)()
    v1 = ours(logits, target)
    v1.backward()
    g1 = logits.grad.clone()
    logits.grad = None
    v2 = theirs(logits, target)
    v2.backward()
    np.testing.assert_allclose(v1.item(), v2.item(), rtol=1e-4)
    np.testing.assert_allclose(g1.numpy(), logits.grad.numpy(), rtol=1e-3,
                               atol=1e-6 * float(logits.grad.abs().max()))
    return step(ours), step(theirs)


def jax_pair(wid, y, z, threads):
    import jax
    import jax.numpy as jnp
    import optax
    import fastloss.jax as flj
    name = {"ce": "softmax_cross_entropy_with_integer_labels",
            "bce": "sigmoid_binary_cross_entropy", "mse": "mse"}[wid]
    ours = flj.get(name, n_threads=threads)   # the kernel runs on an XLA thread
    ref = {"ce": lambda t, q: optax.losses.softmax_cross_entropy_with_integer_labels(q, t),
           "bce": lambda t, q: optax.losses.sigmoid_binary_cross_entropy(q, t),
           "mse": lambda t, q: optax.losses.squared_error(q, t)}[wid]
    yj, zj = jnp.asarray(y), jnp.asarray(z)
    f1 = jax.jit(jax.value_and_grad(lambda q: ours(yj, q)))
    f2 = jax.jit(jax.value_and_grad(lambda q: jnp.mean(ref(yj, q))))
    (v1, g1), (v2, g2) = f1(zj), f2(zj)
    np.testing.assert_allclose(v1, v2, rtol=1e-4)
    np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-6 * float(jnp.abs(g2).max()))
    return (lambda: jax.block_until_ready(f1(zj)), lambda: jax.block_until_ready(f2(zj)))


def fmt(seconds):
    if seconds < 0:
        return "−" + fmt(-seconds)
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/adapters.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--out", default=None, help="directory for adapters.json/.md")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="skip the 10^7 and 512x32768 rows")
    parser.add_argument("--frameworks", default="torch,jax")
    parser.add_argument("--note", default="", help="a sentence about the run for the table")
    parser.add_argument("--from-json", default=None,
                        help="re-render adapters.md from this adapters.json (no measuring)")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            data = json.load(fh)
        out = args.out or os.path.dirname(args.from_json)
        with open(os.path.join(out, "adapters.md"), "w") as fh:
            fh.write(markdown(data["meta"], data["rows"]))
        return 0

    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(args.threads)
    frameworks = args.frameworks.split(",")
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(limits=args.threads, user_api="openmp"):
        for wid, label, shape, size_class in WORKLOADS:
            n = int(np.prod(shape))
            if args.quick and n > 2_000_000:
                continue
            y, z = inputs(wid, shape, rng)
            direct = median_time(fastloss_direct(wid, y, z), args.repeat)
            for fw in frameworks:
                ours, theirs = (torch_pair(wid, y, z) if fw == "torch" else
                                jax_pair(wid, y, z, args.threads))
                t_ours = median_time(ours, args.repeat)
                t_theirs = median_time(theirs, args.repeat)
                row = dict(framework=fw, workload=label, shape=list(shape), elements=n,
                           size_class=size_class, fastloss_adapter=t_ours, framework_loss=t_theirs,
                           speedup=t_theirs / t_ours, fastloss_direct=direct,
                           adapter_overhead=t_ours - direct)
                rows.append(row)
                print(f"{fw:5s} {label:34s} {'x'.join(map(str, shape)):>10s}  fastloss "
                      f"{fmt(t_ours):>9s}  own {fmt(t_theirs):>9s}  speed-up "
                      f"{row['speedup']:5.2f}x  overhead {fmt(row['adapter_overhead'])}",
                      flush=True)

    import jax
    import fastloss as fl
    meta = dict(command="python bench/adapters.py " + " ".join(argv if argv is not None
                                                                else sys.argv[1:]),
                threads=args.threads, machine=platform.machine(), processor=_cpu(),
                cpus=os.cpu_count(), python=platform.python_version(),
                torch=torch.__version__, jax=jax.__version__, fastloss=fl.__version__,
                simd=fl.config().get("simd"), note=args.note)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "adapters.json"), "w") as fh:
            json.dump(dict(meta=meta, rows=rows), fh, indent=1)
        with open(os.path.join(args.out, "adapters.md"), "w") as fh:
            fh.write(markdown(meta, rows))
    return 0


def _cpu():
    from harness import _cpu_model      # bench/ is on sys.path: this runs as a script
    return _cpu_model()


def markdown(meta, rows):
    out = ["# The loss inside a training step: fastloss adapters vs the framework's own loss",
           "",
           f"`{meta['command']}` — {meta['processor']}, {meta['cpus']} CPUs, "
           f"{meta['threads']} thread(s), float32, torch {meta['torch']}, jax {meta['jax']}, "
           f"fastloss SIMD level {meta['simd']}.",
           "",
           "Median time of the loss's forward + backward (PyTorch: `criterion(logits, target)"
           ".backward()`; JAX: `jit(value_and_grad)`, fastloss.jax vs optax). *speed-up* = "
           "framework's own / fastloss adapter (above 1: fastloss faster). *overhead* = the "
           "adapter's time minus fastloss's own `value_and_grad(out=buf)` on NumPy arrays: "
           "the framework's dispatch and autograd engine (which its own loss pays too), the "
           "adapter's Python, a freshly allocated gradient instead of a reused buffer "
           "(page faults at large sizes) and, for JAX, `pure_callback`'s copies between "
           "XLA and NumPy buffers; it can be below 0 within the timing noise.",
           ""] + ([meta["note"], ""] if meta.get("note") else []) + [
           "| framework | loss | shape | fastloss adapter | framework's own | speed-up | "
           "fastloss direct | adapter overhead |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['framework']} | {r['workload']} | {'×'.join(map(str, r['shape']))} | "
                   f"{fmt(r['fastloss_adapter'])} | {fmt(r['framework_loss'])} | "
                   f"{r['speedup']:.2f}x | {fmt(r['fastloss_direct'])} | "
                   f"{fmt(r['adapter_overhead'])} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
