"""The registry is the one list of losses: the package's attributes, ``__all__``, the README's
loss table, the generic bad-input rows and the benchmark's catalogue all derive from it.

``test_a_new_loss_reaches_every_place`` proves the README's "Adding a loss" steps: a loss
registered with a spec (maths + NumPy twin) and given a row in tests/cases.py reaches every
place without further edits.
"""
import os
import sys

import numpy as np
import pytest

import fastloss as fl
from fastloss import _registry as R
from fastloss._loss import LossSpec, Plan
from fastloss._numpy import regression as npr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import readme_tables  # noqa: E402


def test_readme_loss_table_is_rendered_from_the_registry():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert readme_tables.replaced(text) == text, \
        "README.md's loss table is stale: run python tools/readme_tables.py"


def test_every_alias_in_the_readme_table_resolves_to_its_loss():
    table = readme_tables.render()
    for spec in R.SPECS:
        if spec.kind == "custom":
            continue
        for alias in spec.aliases:
            assert f"`{alias}`" in table
            assert fl.get(alias).spec is spec


def test_package_attributes_and_all_come_from_the_registry():
    builtin = [s.name for s in R.SPECS if s.name in R.BUILTIN]
    assert builtin == [n for n in fl.available() if n in R.BUILTIN]
    for name in builtin:
        assert getattr(fl, name).spec is R.REGISTRY[name]
        assert name in fl.__all__
    assert set(fl.__all__) - set(builtin) == {
        "get", "available", "Loss", "LossSpec", "show_config", "config", "set_backend",
        "use_backend", "default_threads", "custom", "check_grad", "GradCheck"}
    for name in fl.__all__:
        assert hasattr(fl, name), name


def test_builtin_losses_cannot_be_removed_or_replaced():
    with pytest.raises(ValueError, match="built-in"):
        R.unregister("mse")
    with pytest.raises(ValueError, match="already exists"):
        R.register(LossSpec("mse", "elementwise", R.REGISTRY["mse"].plan), replace=True)


def test_a_new_loss_reaches_every_place():
    """The README's steps: (1) per-element maths in src/ with its X-macro line, (2) a spec
    and NumPy twin in the registry, (3) a row in tests/cases.py.  Here the maths is the mse
    kernel's, so the test needs no compiler; everything else is derived."""
    from cases import Case, regression, t_mse, shape_for, CASES
    from test_bad_input import generic_bad_calls

    name = "squared_error_for_test"
    spec = LossSpec(
        name, "elementwise", lambda p: Plan(R.MSE, (0.0, 0.0, 0.0, 0.0), npr.mse),
        doc="Squared error (the mse kernel under another name), for the registry test.",
        aliases=("SquaredErrorForTest",), summary="mean of (p − y)²",
        reference="`torch.nn.functional.mse_loss`")
    R.register(spec)
    try:
        # the package and the registry
        assert name in fl.available()
        loss = getattr(fl, name)
        assert loss.spec is spec and fl.get("SquaredErrorForTest").spec is spec
        assert name in dir(fl)
        assert "Squared error" in loss.__doc__ and "Reductions" in loss.__doc__
        # docs: the README table renders a row for it (and the check now says "stale")
        assert f"| `{name}` | – | mean of (p − y)² |" in readme_tables.render()
        # both backends compute it, and agree
        rng = np.random.default_rng(0)
        y, p = rng.normal(size=(2, 50, 3))
        with fl.use_backend("numpy"):
            ref = loss.value_and_grad(y, p)
        value, grad = loss.value_and_grad(y, p)
        assert value == pytest.approx(ref[0], rel=1e-12)
        np.testing.assert_allclose(grad, ref[1], rtol=1e-12)
        # the battery's coverage check demands its cases.py row ...
        covered = {c.loss for c in CASES}
        assert name not in covered
        # ... and with that row the generic bad-input rows apply to it unchanged
        case = Case(name, name, {}, regression, "elementwise", t_mse)
        for backend in ("cython", "numpy"):
            with fl.use_backend(backend):
                for row_id, call, exc, words in generic_bad_calls(loss, case):
                    with pytest.raises(exc) as info:
                        call()
                    assert all(w in str(info.value) for w in words), (row_id, info.value)
        assert shape_for(case)
        # the benchmark's catalogue times it (default inputs of its kind, fastloss alone
        # until a peer formula is added)
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import harness
        assert name in harness.catalogue_losses()
        (workload,) = harness.catalogue_workloads([name], shapes={"regression": (64,)})
        assert workload.loss == name
    finally:
        R.unregister(name)
    assert name not in fl.available()
    with pytest.raises(AttributeError):
        getattr(fl, name)
