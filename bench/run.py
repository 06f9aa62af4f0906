"""The peer comparison of fastloss, from the repository root:

    python bench/run.py --quick        # ~1 minute: core losses vs NumPy, PyTorch, JAX, ...
    python bench/run.py                # the full comparison: tables and plots
    python bench/run.py --catalogue    # the other built-in losses vs NumPy formulas, PyTorch
    python bench/run.py --from-json bench/results/full.json   # re-render, no measuring

It times whatever ``fastloss`` this interpreter imports: the installed package (as
``python3 dev.py bench`` sets up), or an in-place build with ``PYTHONPATH=.``.  Run as a
script, so the repository root is not on ``sys.path`` and cannot shadow an installed
fastloss with its uncompiled sources.  Results go to ``--out`` (default bench/results).
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
                    "write JSON and markdown (and PNG plots for the full run) to --out.")
    harness.add_arguments(parser)
    return harness.run_from_args(parser.parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
