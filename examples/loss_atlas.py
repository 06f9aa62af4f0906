"""The loss atlas: every registered loss and its gradient, drawn from the registry.

One panel per loss in ``fastloss.available()``: the loss (solid) and the derivative that
``value_and_grad`` returns (dashed) as the prediction moves, for a fixed target.  The
gradient is what gradient descent follows, so the dashed line says how hard each loss pushes
a prediction at each distance from its target: linearly (MSE), with a constant force (MAE,
the tails of Huber and log-cosh), not at all once a margin is met (hinge, triplet), or less
and less for samples already right (focal).  A loss added to the registry (including
``fastloss.custom`` ones) gets its panel without any change here.

The same figure: ``python -m fastloss atlas --out atlas.png``.  The paths and targets used
for each kind of loss are listed in ``help(fastloss.atlas)``.

Run it:  python examples/loss_atlas.py   (prints where each loss is smallest; writes the figure)
"""
import argparse
import os

import numpy as np

from fastloss import atlas

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURE = os.path.join(HERE, "figures", "loss_atlas.png")


def main(out=FIGURE, verbose=True):
    """Compute every loss's curve, print a summary, draw the atlas (``out=None``: no figure).

    Returns the :class:`fastloss.atlas.Curve` of each loss, in registry order.
    """
    curves = atlas.curves() if out is None else atlas.draw(out)
    if verbose:
        print(f"{'loss':<34} {'drawn along':<30} {'smallest at':>11} {'loss there':>11}")
        for c in curves:
            i = int(np.argmin(c.value))
            print(f"{c.name:<34} {c.xlabel:<30} {c.x[i]:>11.2f} {c.value[i]:>11.3g}")
        if out is not None:
            print(f"wrote {out}: {len(curves)} losses")
    return curves


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=FIGURE, help="figure file (default: %(default)s)")
    args = parser.parse_args()
    main(out=args.out)
