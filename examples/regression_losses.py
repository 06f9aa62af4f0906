"""Choosing a regression loss: MSE, MAE, Huber and log-cosh on data with outliers.

A linear model  y ≈ X·w + b  is fitted by plain gradient descent to scikit-learn's diabetes
data (442 patients, 10 measurements, a disease-progression score one year later), after a
few training targets were recorded ten times too large (a slipped decimal point).  The same
loop runs once per loss; only the loss changes.  The held-out error is measured on clean
targets, so it says how well each fit learned the real relation.

What each loss does with a residual d = prediction − target (its gradient is what moves w):

* MSE, d²: the gradient 2d grows with the residual, so a handful of huge residuals dominate
  every step and drag the fit towards the corrupted targets;
* MAE, |d|: the gradient is sign(d), every sample pulls equally hard, the outliers are
  outvoted (but the fit moves in fixed-size steps near the optimum);
* Huber(δ): d²/2 for |d| ≤ δ, linear beyond: MSE's smooth pull near the fit, MAE's capped
  pull for outliers; δ (in the units of the target) says where "outlier" begins;
* log-cosh: smooth everywhere, ≈ d²/2 for small d and ≈ |d| − log 2 for large ones.

Run it:  python examples/regression_losses.py   (prints a table, writes the figure)
"""
import argparse
import os

import numpy as np
from sklearn.datasets import load_diabetes

import fastloss as fl

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURE = os.path.join(HERE, "figures", "regression_losses.png")

# name shown -> the loss object (bound parameters included)
LOSSES = {
    "MSE": fl.get("mse"),
    "MAE": fl.get("mae"),
    "Huber δ=0.5": fl.get("huber", delta=0.5),
    "Huber δ=2": fl.get("huber", delta=2.0),
    "log-cosh": fl.get("log_cosh"),
}


def load_data(seed=0, outlier_fraction=0.05, test_fraction=0.3):
    """Standardised features, targets in units of their spread, and the corrupted rows.

    Targets are centred on the training median and divided by a robust spread (the
    interquartile range / 1.349, the standard deviation for normal data) of the *corrupted*
    training targets: what one would do without knowing which rows are wrong.  Huber's δ is
    then in units of that spread.
    """
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    X_train, X_test = X[train], X[test]
    y_clean, y_test = y[train], y[test]
    y_train = y_clean.copy()

    # The corruption: a few training targets recorded 10x too large.
    bad = rng.choice(len(train), size=int(round(outlier_fraction * len(train))), replace=False)
    y_train[bad] *= 10.0

    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    center = np.median(y_train)
    q25, q75 = np.percentile(y_train, [25, 75])
    scale = (q75 - q25) / 1.349
    return dict(X_train=X_train, y_train=(y_train - center) / scale, X_test=X_test,
                y_test=y_test, bad=bad, center=center, scale=scale,
                y_clean=(y_clean - center) / scale)   # for comparison only


def fit(loss, X, y, steps, learning_rate, on_step=None):
    """Gradient descent on the mean loss of the linear model X @ w + b."""
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    pred = np.empty(n)
    dpred = np.empty(n)                  # preallocated: the loop allocates no gradient
    history = []
    for step in range(steps):
        np.matmul(X, w, out=pred)
        pred += b
        value, _ = loss.value_and_grad(y, pred, out=dpred)   # loss and dL/dpred, one pass
        w -= learning_rate * (X.T @ dpred)                   # chain rule: dL/dw = X^T dL/dpred
        b -= learning_rate * dpred.sum()                     # dL/db = sum of dL/dpred
        history.append(value)
        if on_step is not None:
            on_step(step, w, b, value)
    return w, b, np.array(history)


def main(out=FIGURE, seed=0, steps=1000, learning_rate=0.05, verbose=True):
    """Fit every loss; print the table; save the figure to ``out`` (None: no figure).

    Returns ``{name: {"mae": held-out MAE, "rmse": held-out RMSE, ...}}`` with the errors in
    the target's own units, plus the entry "MSE, clean data": MSE fitted to the targets
    before corruption, the fit the robust losses should get close to.
    """
    data = load_data(seed)
    X, y, X_test, y_test = data["X_train"], data["y_train"], data["X_test"], data["y_test"]

    def predict(w, b):                   # back to the target's units
        return (X_test @ w + b) * data["scale"] + data["center"]

    if verbose:
        print(f"diabetes: {len(y)} training rows ({len(data['bad'])} with a 10x target), "
              f"{len(y_test)} held-out rows; {steps} gradient steps per loss")
    results = {}
    runs = [(name, loss, y) for name, loss in LOSSES.items()]
    runs.append(("MSE, clean data", LOSSES["MSE"], data["y_clean"]))
    for name, loss, targets in runs:
        test_error = []                  # held-out MAE after every step, for the figure

        def track(step, w, b, value):
            test_error.append((step + 1, np.abs(predict(w, b) - y_test).mean()))
            if verbose and (step + 1) % 250 == 0:
                print(f"  {name:<16} step {step + 1:4d}  training loss {value:8.4f}  "
                      f"held-out MAE {test_error[-1][1]:6.1f}")

        w, b, history = fit(loss, X, targets, steps, learning_rate, on_step=track)
        residual = predict(w, b) - y_test
        results[name] = dict(mae=float(np.abs(residual).mean()),
                             rmse=float(np.sqrt(np.mean(residual ** 2))),
                             final_loss=float(history[-1]), residual=residual,
                             test_error=np.array(test_error))
    if verbose:
        print(f"{'loss':<16} {'held-out MAE':>12} {'held-out RMSE':>14}")
        for name, r in results.items():
            print(f"{name:<16} {r['mae']:>12.1f} {r['rmse']:>14.1f}")
    if out is not None:
        plot(results, out)
        if verbose:
            print(f"wrote {out}")
    return results


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")                # files only, no window
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_res, ax_err) = plt.subplots(1, 3, figsize=(13, 3.9))
    d = np.linspace(-4, 4, 201)
    colors = {name: f"C{i}" for i, name in enumerate(results)}
    for name, loss in LOSSES.items():
        ax_loss.plot(d, loss(np.zeros_like(d), d, reduction="none"), color=colors[name],
                     label=name)
    ax_loss.set(title="the losses, as a function of the residual", xlabel="residual d",
                ylim=(0, 6))
    ax_loss.legend(fontsize=8)

    names = list(results)
    ax_res.axhline(0, color="0.7", lw=0.8)
    ax_res.boxplot([results[n]["residual"] for n in names], showfliers=False)
    ax_res.set_xticks(range(1, len(names) + 1),
                      [n.replace(", ", "\n").replace(" δ", "\nδ") for n in names], fontsize=8)
    ax_res.set(title="held-out residuals (clean targets)", ylabel="prediction − target")

    for name in names:
        steps, err = results[name]["test_error"].T
        ax_err.plot(steps, err, color=colors.get(name, "k"),
                    ls="--" if "clean" in name else "-", label=name)
    ax_err.set(title="held-out error during training", xlabel="gradient step",
               ylabel="mean |prediction − target|", xscale="log", ylim=(35, 100))
    ax_err.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=72)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=FIGURE, help="figure file (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    main(out=args.out, seed=args.seed, steps=args.steps)
