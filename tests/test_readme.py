"""The README's code runs as written: every ```python block is executed in order."""
import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def python_blocks():
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_block_runs(index):
    import fastloss as fl
    import numpy as np
    code = python_blocks()[index]
    if "y_true, y_pred)" in code and "rng" not in code:
        # API sketches: give them small, valid inputs
        rng = np.random.default_rng(0)
        namespace = dict(
            y_true=rng.normal(size=(8, 3)), y_pred=rng.normal(size=(8, 3)),
            y=(rng.random((8, 3)) < 0.5).astype(float), logits=rng.normal(size=(8, 3)),
            buf=np.empty((8, 3)), fl=fl, np=np)
    else:
        namespace = {}
    exec(compile(code, f"README block {index}", "exec"), namespace)
    if "final loss" in code:
        assert namespace["loss"] < 0.35      # the logistic regression actually learns
