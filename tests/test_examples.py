"""The example scripts of examples/ run, and what each one claims holds.

Each test imports its script by name (examples/ is not a package), calls its ``main()`` with
the figure written to a temporary file, and checks the outcome the script and the README
state - so a figure in the README cannot silently go stale.  matplotlib and scikit-learn
are imported unconditionally: the suite fails, not skips, without them (both are in the
``test`` extra).  Scripts other helpers add to examples/ get their own tests; nothing here
globs the folder.
"""
import importlib.util
import os
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")                    # headless, whatever the environment says

import numpy as np                       # noqa: E402
import pytest                            # noqa: E402
import sklearn                           # noqa: E402,F401  (the examples' data sets)

import fastloss as fl                    # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
PNG = b"\x89PNG\r\n\x1a\n"
SCRIPTS = ["regression_losses", "digits_early_stopping", "imbalanced_classification",
           "loss_atlas"]


def load(name):
    """The example script ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path):
    with open(path, "rb") as fh:
        head = fh.read(8)
    assert head == PNG, f"{path} is not a PNG"
    assert os.path.getsize(path) > 10_000          # a drawn figure, not an empty canvas


# ---- 1. choosing a regression loss ---------------------------------------------------------

def test_regression_losses(tmp_path):
    example = load("regression_losses")
    out = tmp_path / "regression.png"
    r = example.main(out=str(out), verbose=False)
    assert_png(out)
    check_regression(r)


def check_regression(r):
    """Over 20 random splits (seeds 0-19) MSE's held-out MAE was 1.36-2.49 times that of
    MSE fitted to the clean targets, the robust losses' 0.97-1.14 times."""
    mse, clean = r["MSE"]["mae"], r["MSE, clean data"]["mae"]
    # the outliers hurt MSE: its held-out error is well above the same fit on clean targets,
    # and it got worse as training went on (the outliers took over the gradient)
    assert mse > 1.25 * clean
    assert mse > 1.2 * r["MSE"]["test_error"][:, 1].min()
    # every robust loss beats MSE on held-out data, and lands near the clean fit
    for name in ("MAE", "Huber δ=0.5", "Huber δ=2", "log-cosh"):
        assert r[name]["mae"] < 0.9 * mse, name
        assert r[name]["rmse"] < r["MSE"]["rmse"], name
        assert r[name]["mae"] < 1.2 * clean, name


def test_regression_losses_other_seeds():
    """The claim is not one lucky split: other splits and corruptions, same ordering."""
    example = load("regression_losses")
    for seed in range(1, 6):
        check_regression(example.main(out=None, seed=seed, verbose=False))


# ---- 2. training vs validation loss, early stopping ----------------------------------------

def check_digits(runs, max_epochs):
    assert len(runs) == 2
    for name, run in runs.items():
        history, best = run["history"], run["best_epoch"]
        # it learns: both losses fall well below where they started
        assert history["train"][best - 1] < 0.7 * history["train"][0], name
        assert history["val"][best - 1] < 0.7 * history["val"][0], name
        # then it memorises the wrong labels: training loss keeps falling while validation
        # loss rises, so early stopping ends the run before max_epochs at a later epoch
        # than the one it keeps ...
        assert best < run["last_epoch"] < max_epochs, name
        assert history["train"][-1] < 0.95 * history["train"][best - 1], name
        assert run["val_loss_at_stop"] > run["best_val_loss"], name
        # ... and the weights it keeps classify the (correctly labelled) test digits better
        assert run["test_accuracy"] > run["last_test_accuracy"], name
        assert run["test_accuracy"] > 0.85, name
    plain, smooth = runs["no smoothing"], runs["label_smoothing=0.1"]
    assert plain["val_loss_at_stop"] > 1.04 * plain["best_val_loss"]
    # label smoothing memorises less: its validation loss rises less after its best epoch
    assert (smooth["val_loss_at_stop"] / smooth["best_val_loss"]
            < plain["val_loss_at_stop"] / plain["best_val_loss"])


def test_digits_early_stopping(tmp_path):
    example = load("digits_early_stopping")
    out = tmp_path / "digits.png"
    runs = example.main(out=str(out), max_epochs=300, verbose=False)
    assert_png(out)
    check_digits(runs, 300)


@pytest.mark.parametrize("seed", [1, 2])
def test_digits_early_stopping_other_seeds(seed):
    runs = load("digits_early_stopping").main(out=None, seed=seed, verbose=False)
    check_digits(runs, 300)


# ---- 3. classification losses under imbalance ----------------------------------------------

def check_imbalanced(r, names, strict=True):
    """Over 20 random splits (seeds 0-19) the recall gains on plain BCE were: class weights
    +6 to +27 points, focal with alpha=0.75 0 to +14 (above BCE on 19 of 20), focal's
    focusing term alone -2 to +6; the bounds below leave a margin around those."""
    train_counts = r["data"]["train"]
    assert train_counts[1] * 10 < train_counts[0]            # really imbalanced
    bce = r["BCE"]["recall"]
    # class weights find clearly more of the rare class than plain BCE, and so does focal
    # loss with alpha = 0.75 (a 3:1 class weight) ...
    assert r["BCE + class weights"]["recall"] > bce + 0.05
    focal_alpha = r["focal γ=2 α=0.75"]["recall"]
    assert focal_alpha > bce if strict else focal_alpha >= bce
    # ... while the focusing term alone moves the recall much less than class weights
    assert -0.05 <= r["focal γ=2"]["recall"] - bce <= 0.08
    assert r["BCE + class weights"]["recall"] > r["focal γ=2"]["recall"]
    for name in names:
        assert r[name]["accuracy"] > 0.8, name


def test_imbalanced_classification(tmp_path):
    example = load("imbalanced_classification")
    out = tmp_path / "imbalanced.png"
    r = example.main(out=str(out), verbose=False)
    assert_png(out)
    check_imbalanced(r, example.MODELS)


def test_imbalanced_classification_other_seeds():
    example = load("imbalanced_classification")
    for seed in range(1, 6):
        check_imbalanced(example.main(out=None, seed=seed, verbose=False), example.MODELS,
                         strict=False)


# ---- 4. the loss atlas ---------------------------------------------------------------------

def test_loss_atlas(tmp_path):
    example = load("loss_atlas")
    out = tmp_path / "atlas.png"
    curves = example.main(out=str(out), verbose=False)
    assert_png(out)
    # every registered loss has its panel, in registry order
    assert [c.name for c in curves] == fl.available()
    for c in curves:
        assert np.all(np.isfinite(c.value)) and np.all(np.isfinite(c.slope)), c.name
        # the drawn derivative is the derivative of the drawn loss: compare with central
        # differences of the curve itself, away from kinks (hinge, MAE at 0 ...)
        fd = np.gradient(c.value, c.x)
        scale = np.abs(c.slope).max() + 1e-12
        close = np.abs(fd - c.slope) <= 0.02 * scale
        assert close.mean() > 0.95, (c.name, close.mean())
    # what the README says the dashed lines show
    by_name = {c.name: c for c in curves}
    x, slope = by_name["mse"].x, by_name["mse"].slope
    np.testing.assert_allclose(slope, 2 * (x - 1), atol=1e-12)      # grows with the error
    for name, flat_beyond in (("mae", 0.0), ("huber", 1.0), ("log_cosh", 3.0)):
        c = by_name[name]
        far = np.abs(c.x - 1) > flat_beyond + 1e-9
        np.testing.assert_allclose(np.abs(c.slope[far]), 1.0, atol=1e-2, err_msg=name)
    for name, margin in (("hinge", 1.0), ("triplet", 2.0)):   # zero once the margin is met
        c = by_name[name]
        assert np.all(c.slope[c.x > margin + 1e-9] == 0), name
        assert np.all(c.slope[c.x < margin - 1e-9] < 0), name
    bce, focal = by_name["binary_cross_entropy"], by_name["binary_focal"]
    right = bce.x > 1.0                                 # samples the model already gets right
    assert np.all(np.abs(focal.slope[right]) < 0.5 * np.abs(bce.slope[right]))
    assert np.all(np.abs(bce.slope[bce.x > 4]) < 0.02)


def test_loss_atlas_shows_a_new_loss(tmp_path):
    from fastloss import _registry
    from fastloss import atlas

    @fl.custom("atlas_test_quartic")
    def quartic(t, p):
        d = p - t
        return d ** 4, 4 * d ** 3

    try:
        c = atlas.curve("atlas_test_quartic")
        assert c.name in [x.name for x in atlas.curves()]
        np.testing.assert_allclose(c.value, (c.x - 1) ** 4)
        np.testing.assert_allclose(c.slope, 4 * (c.x - 1) ** 3)
    finally:
        _registry.unregister("atlas_test_quartic")


def test_atlas_command(tmp_path):
    from fastloss.__main__ import main
    out = tmp_path / "atlas.png"
    assert main(["atlas", "--out", str(out)]) == 0
    assert_png(out)


def test_atlas_imports_matplotlib_only_when_drawing():
    code = ("import sys, fastloss, fastloss.__main__, fastloss.atlas; "
            "fastloss.atlas.curves(); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the README shows every figure, and the figures are small ------------------------------

def test_readme_shows_the_figures():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    section = readme.split("## Examples", 1)[1].split("\n## ", 1)[0]
    shown = re.findall(r"!\[[^\]]*\]\((examples/figures/[^)]+\.png)\)", section)
    for name in SCRIPTS:
        figure = f"examples/figures/{name}.png"
        assert figure in shown, figure
        assert f"examples/{name}.py" in section, name
        path = os.path.join(ROOT, figure)
        assert_png(path)
        assert os.path.getsize(path) < 120_000, figure
