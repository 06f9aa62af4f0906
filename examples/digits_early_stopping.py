"""Training vs validation loss, and early stopping: a one-hidden-layer MLP on digits.

scikit-learn's digits (1,797 handwritten digits, 8x8 pixels, 10 classes) are split into a
small training set, a validation set that decides when to stop, and a test set touched only
at the end.  As in much real labelled data, some labels are wrong: 20% of the training and
validation labels are replaced by another class (the test labels are left correct).  A NumPy
MLP (64 -> 64 tanh -> 10) is trained by minibatch gradient descent on the softmax
cross-entropy, once without and once with ``label_smoothing=0.1``.

How to read the curves: while training and validation loss fall together the model learns
what generalises (the shapes of the digits); when the training loss keeps falling but the
validation loss turns up, it is memorising the training set - here, its wrong labels
(overfitting).  Early stopping keeps the weights of the epoch with the lowest validation
loss and stops once that has not improved for ``patience`` epochs; those weights classify
the test digits better than the last epoch's.  (On clean digits this small network only
plateaus: the validation loss flattens and early stopping saves time rather than accuracy.)

Label smoothing trains towards 0.9 + 0.1/10 on the given class and 0.1/10 on every other one
instead of a one-hot target, so the model is never pushed to certainty about any label,
wrong ones included: it memorises less, and its validation loss rises less.  Both runs are
measured with the same yardstick, plain (unsmoothed) cross-entropy.

Run it:  python examples/digits_early_stopping.py   (prints progress, writes the figure)
"""
import argparse
import os

import numpy as np
from sklearn.datasets import load_digits

import fastloss as fl

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURE = os.path.join(HERE, "figures", "digits_early_stopping.png")

# integer labels, raw scores (logits) in: softmax and log are fused into the loss
cross_entropy = fl.get("sparse_categorical_cross_entropy", from_logits=True)


def load_data(seed=0, n_train=400, n_val=400, label_noise=0.2):
    """Train / validation / test splits; ``label_noise`` of the training labels (and of the
    validation labels: the validation set comes from the same labelling) are replaced by a
    random other class."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0                                  # pixels in [0, 1]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    train, val, test = np.split(order, [n_train, n_train + n_val])
    noisy = y.copy()
    for part in (train, val):
        flip = rng.choice(part, int(round(label_noise * len(part))), replace=False)
        noisy[flip] = (y[flip] + rng.integers(1, 10, len(flip))) % 10
    return X[train], noisy[train], X[val], noisy[val], X[test], y[test]


class MLP:
    """logits = tanh(X W1 + b1) W2 + b2, with its backward pass."""

    def __init__(self, n_in, n_hidden, n_out, rng):
        self.W1 = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_hidden))
        self.b1 = np.zeros(n_hidden)
        self.W2 = rng.normal(0, 1 / np.sqrt(n_hidden), (n_hidden, n_out))
        self.b2 = np.zeros(n_out)

    def params(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, X):
        self.X = X
        self.h = np.tanh(X @ self.W1 + self.b1)
        return self.h @ self.W2 + self.b2

    def backward(self, dlogits):
        """Gradients of the loss w.r.t. W1, b1, W2, b2, given dL/dlogits."""
        dW2 = self.h.T @ dlogits
        db2 = dlogits.sum(axis=0)
        dpre = (dlogits @ self.W2.T) * (1 - self.h ** 2)   # back through tanh
        return [self.X.T @ dpre, dpre.sum(axis=0), dW2, db2]


def train(data, label_smoothing, seed, max_epochs, patience, batch_size, learning_rate,
          n_hidden, verbose):
    X, y, X_val, y_val, X_test, y_test = data
    rng = np.random.default_rng(seed)
    model = MLP(X.shape[1], n_hidden, 10, rng)
    objective = fl.get("sparse_categorical_cross_entropy", from_logits=True,
                       label_smoothing=label_smoothing)          # what training minimises
    dlogits = np.empty((batch_size, 10))          # preallocated gradient buffer
    history = {"train": [], "val": [], "val_accuracy": []}
    best = (np.inf, 0, [p.copy() for p in model.params()])
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(len(y))
        for start in range(0, len(y) - batch_size + 1, batch_size):   # full batches only
            batch = order[start:start + batch_size]
            logits = model.forward(X[batch])
            objective.value_and_grad(y[batch], logits, out=dlogits)  # one fused pass
            for p, g in zip(model.params(), model.backward(dlogits)):
                p -= learning_rate * g
        # the same yardstick for both runs: plain cross-entropy, no smoothing
        train_loss = cross_entropy(y, model.forward(X))
        val_logits = model.forward(X_val)
        val_loss = cross_entropy(y_val, val_logits)
        history["train"].append(train_loss)
        history["val"].append(val_loss)
        history["val_accuracy"].append(np.mean(val_logits.argmax(axis=1) == y_val))
        if val_loss < best[0]:
            best = (val_loss, epoch, [p.copy() for p in model.params()])
        if verbose and (epoch % 10 == 0 or epoch == 1):
            print(f"  epoch {epoch:3d}  train {train_loss:.4f}  validation {val_loss:.4f}  "
                  f"validation accuracy {history['val_accuracy'][-1]:.3f}")
        if epoch - best[1] >= patience:
            if verbose:
                print(f"  stop: no better validation loss for {patience} epochs")
            break
    last_epoch = epoch
    last_test_accuracy = np.mean(model.forward(X_test).argmax(axis=1) == y_test)
    for p, saved in zip(model.params(), best[2]):  # restore the best epoch's weights
        p[...] = saved
    test_logits = model.forward(X_test)
    probabilities = np.exp(test_logits - test_logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return dict(
        history={k: np.array(v) for k, v in history.items()},
        best_epoch=best[1], best_val_loss=float(best[0]), last_epoch=last_epoch,
        val_loss_at_stop=float(history["val"][-1]),
        test_accuracy=float(np.mean(test_logits.argmax(axis=1) == y_test)),
        last_test_accuracy=float(last_test_accuracy),
        test_loss=float(cross_entropy(y_test, test_logits)),
        test_confidence=float(probabilities.max(axis=1).mean()))


def main(out=FIGURE, seed=0, label_noise=0.2, max_epochs=300, patience=40, batch_size=20,
         learning_rate=0.1, n_hidden=64, smoothing=0.1, verbose=True):
    """Train without and with label smoothing; print; save the figure (``out=None``: none).

    Returns ``{"no smoothing": run, "label_smoothing=0.1": run}``, each run a dict with the
    per-epoch ``history`` (train / val loss, val accuracy), ``best_epoch`` (the one early
    stopping keeps), ``last_epoch`` (where it stopped), and the test accuracy, plain
    cross-entropy and mean confidence (top softmax probability) of the kept weights.
    """
    data = load_data(seed, label_noise=label_noise)
    runs = {}
    for name, s in (("no smoothing", 0.0), (f"label_smoothing={smoothing:g}", smoothing)):
        if verbose:
            print(f"{name}: {len(data[1])} training, {len(data[3])} validation, "
                  f"{len(data[5])} test digits")
        runs[name] = run = train(data, s, seed, max_epochs, patience, batch_size,
                                 learning_rate, n_hidden, verbose)
        if verbose:
            print(f"  early stopping keeps epoch {run['best_epoch']} of {run['last_epoch']}: "
                  f"test accuracy {run['test_accuracy']:.3f} (last epoch's weights: "
                  f"{run['last_test_accuracy']:.3f}), test cross-entropy "
                  f"{run['test_loss']:.3f}, mean confidence {run['test_confidence']:.3f}")
    if out is not None:
        plot(runs, out)
        if verbose:
            print(f"wrote {out}")
    return runs


def plot(runs, out):
    import matplotlib
    matplotlib.use("Agg")                # files only, no window
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(11, 3.8), sharey=True)
    for ax, (name, run) in zip(axes, runs.items()):
        epochs = np.arange(1, run["last_epoch"] + 1)
        ax.plot(epochs, run["history"]["train"], label="training loss")
        ax.plot(epochs, run["history"]["val"], label="validation loss")
        ax.axvline(run["best_epoch"], color="k", ls=":", lw=1)
        ax.annotate(f"early stopping keeps epoch {run['best_epoch']}: test accuracy "
                    f"{run['test_accuracy']:.3f}\n(last epoch's weights: "
                    f"{run['last_test_accuracy']:.3f})",
                    (run["best_epoch"], run["best_val_loss"]), xytext=(-20, 45),
                    textcoords="offset points", fontsize=8,
                    arrowprops=dict(arrowstyle="->", lw=0.8))
        top = 1.25 * max(run["history"]["val"][5:].max(), run["history"]["train"][5:].max())
        ax.set(title=name, xlabel="epoch", ylim=(0.9 * run["history"]["train"].min(), top))
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("cross-entropy (unsmoothed)")
    fig.tight_layout()
    fig.savefig(out, dpi=72)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=FIGURE, help="figure file (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(out=args.out, seed=args.seed)
