"""Command line of fastloss: ``python -m fastloss {bench,show-config}`` (or ``fastloss ...``).

    python -m fastloss show-config          # version, backend, compiler, OpenMP, threads
    python -m fastloss bench --quick        # ~1 minute: fastloss vs NumPy, PyTorch, ...
    python -m fastloss bench --out DIR      # the full peer comparison, tables and plots
    python -m fastloss bench --catalogue    # the other losses vs NumPy formulas, PyTorch
"""
import argparse
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastloss",
        description="fastloss: fused loss + gradient kernels for NumPy arrays.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("show-config", help="print version, backend, compiler, OpenMP, SIMD "
                                       "and default thread count")
    bench = sub.add_parser(
        "bench", help="time loss + gradient against NumPy, PyTorch, JAX, scikit-learn, "
                      "Numba and a memory-bandwidth reference",
        description="Time value_and_grad of fastloss's losses against its peers; write "
                    "JSON and markdown (and PNG plots for the full run) to --out.")
    from ._bench import add_arguments
    add_arguments(bench)
    return parser


def main(argv=None):
    """Entry point of the ``fastloss`` console script and ``python -m fastloss``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.command == "show-config":
        import fastloss
        fastloss.show_config()
        return 0
    from ._bench import run_from_args
    return run_from_args(args, argv)


if __name__ == "__main__":
    sys.exit(main())
