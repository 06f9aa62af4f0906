"""Command line of fastloss: ``python -m fastloss COMMAND`` (or ``fastloss COMMAND``).

    python -m fastloss show-config          # version, backend, compiler, OpenMP, SIMD, threads
    python -m fastloss atlas --out FILE     # every registered loss and its derivative, one
                                            # panel each (needs matplotlib)

The peer benchmark is not part of the installed package: it lives in the repository's
``bench/`` directory (``python bench/run.py --quick``, or ``python3 dev.py bench``).
"""
import argparse
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastloss",
        description="fastloss: fused loss + gradient kernels for NumPy arrays.",
        epilog="The benchmark against NumPy, PyTorch and other peers is in the source "
               "repository: python bench/run.py (or python3 dev.py bench).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("show-config", help="print version, backend, compiler, OpenMP, SIMD "
                                       "and default thread count")
    atlas = sub.add_parser("atlas", help="draw every registered loss and its derivative "
                                         "into an image (needs matplotlib)")
    atlas.add_argument("--out", default="loss_atlas.png", metavar="FILE",
                       help="image file to write; the format follows the extension "
                            "(default: %(default)s)")
    atlas.add_argument("--dpi", type=int, default=72, help="resolution (default: %(default)s)")
    return parser


def main(argv=None):
    """Entry point of the ``fastloss`` console script and ``python -m fastloss``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        print("fastloss: the benchmark is not part of the installed package; from a clone "
              "of the repository run python bench/run.py (or python3 dev.py bench)",
              file=sys.stderr)
        return 2
    args = _parser().parse_args(argv)
    if args.command == "show-config":
        import fastloss
        fastloss.show_config()
    elif args.command == "atlas":
        try:
            import matplotlib  # noqa: F401  (imported here only: the atlas needs it)
        except ImportError:
            print("fastloss atlas: matplotlib is needed to draw the atlas "
                  "(pip install matplotlib, or fastloss[examples])", file=sys.stderr)
            return 2
        from . import atlas
        drawn = atlas.draw(args.out, dpi=args.dpi)
        print(f"wrote {args.out}: {len(drawn)} losses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
