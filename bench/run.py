"""The peer comparison of fastloss, from the repository root:

    python bench/run.py --quick        # ~1 minute: core losses vs NumPy, PyTorch, JAX, ...
    python bench/run.py                # the full comparison
    python bench/run.py --catalogue    # the other built-in losses vs NumPy formulas, PyTorch
    python bench/run.py --from-json bench/results/full.json   # re-render, no measuring
    python bench/run.py --out bench/results   # update the committed results

It times whatever ``fastloss`` this interpreter imports: the installed package (as
``python3 dev.py bench`` sets up), or an in-place build with ``PYTHONPATH=.``.  Run as a
script, so the repository root is not on ``sys.path`` and cannot shadow an installed
fastloss with its uncompiled sources.  Results (JSON, markdown with every peer's column,
PNG plots) go to ``--out``: by default ``bench/out/``, which git ignores, so a run never
overwrites the committed results in ``bench/results/`` unless asked to with
``--out bench/results``.  The terminal gets a compact table that fits in 100 columns, the
notes, and the folder and files written.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # harness, peers, report

import harness  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Time value_and_grad of fastloss's losses against its peers (NumPy, "
                    "PyTorch, JAX, scikit-learn, Numba and a memory-bandwidth reference); "
                    "write JSON, markdown and PNG plots to --out.")
    harness.add_arguments(parser)
    return harness.run_from_args(parser.parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
