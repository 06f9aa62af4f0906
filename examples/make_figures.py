"""Regenerate every figure of the README's Examples section (into examples/figures/).

    python examples/make_figures.py            # all of them
    python examples/make_figures.py loss_atlas # some of them, by script name

Each example script is run through its ``main()`` with its default settings, exactly as
``python examples/<script>.py`` runs it; the figure is then rewritten with a 64-colour
palette (the same picture at a third of the size: the repository stays small).  A new
example adds its name to ``SCRIPTS``.
"""
import importlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPTS = [
    "regression_losses",
    "digits_early_stopping",
    "imbalanced_classification",
    "loss_atlas",
    "dask_logistic_regression",      # starts a LocalCluster of two worker processes
]


def shrink(path, colors=64):
    """Rewrite the PNG at ``path`` with an adaptive palette of ``colors`` colours."""
    from PIL import Image                # Pillow: a dependency of matplotlib
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=colors)
    small.save(path, optimize=True)
    print(f"   {os.path.relpath(path, HERE)}: {os.path.getsize(path) / 1000:.0f} kB")


def main(names=None):
    os.makedirs(os.path.join(HERE, "figures"), exist_ok=True)
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    for name in names or SCRIPTS:
        if name not in SCRIPTS:
            raise SystemExit(f"unknown example {name!r}; the examples: {', '.join(SCRIPTS)}")
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        module.main()
        shrink(module.FIGURE)
        print(f"== {name}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
