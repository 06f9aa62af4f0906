"""The benchmark's catalogue mode (bench/harness.py, not part of the installed package): a
workload for every built-in loss beyond the core six, derived from the registry, and the
hand-written NumPy formulas (the "numpy" peer) agree with fastloss.  Tiny sizes."""
import os
import sys

import numpy as np
import pytest

import fastloss

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "bench")
sys.path.insert(0, os.path.normpath(BENCH))

import harness  # noqa: E402
import peers  # noqa: E402

TINY = {"regression": (257,), "counts": (257,), "positive": (257,), "binary": (257,),
        "signed": (257,), "categorical": (33, 7), "onehot": (33, 7), "distributions": (33, 7),
        "contrastive": (33, 7), "triplet": (33, 7), "cosine": (33, 7),
        "segmentation": (5, 6, 7), "sparse": (33, 7)}


def test_catalogue_is_every_other_builtin_loss():
    builtin = harness.builtin_losses()
    assert set(builtin) <= set(fastloss.available())
    assert set(harness.LOSSES) <= set(builtin)
    assert harness.catalogue_losses() == [n for n in builtin if n not in harness.LOSSES]


def test_per_loss_extras_name_real_losses():
    """Peer formulas and input choices are optional extras keyed by loss name: a stale
    key (a renamed or removed loss) is dead code."""
    builtin = set(harness.builtin_losses())
    assert set(harness.CATALOGUE_INPUTS) <= builtin
    assert set(peers.NUMPY_FORMULAS) <= builtin
    assert set(peers.TorchPeer.supported) <= builtin


@pytest.mark.parametrize("loss", harness.catalogue_losses())
def test_catalogue_workload_runs(loss):
    case = harness.make_case(harness.catalogue_workloads([loss], shapes=TINY)[0])
    try:
        value, _ = harness.reference(case)
    except (ValueError, TypeError) as exc:
        if loss in harness.CATALOGUE_INPUTS:
            raise
        pytest.skip(f"the default inputs of its kind do not suit {loss!r} ({exc}); give it "
                    f"an entry in CATALOGUE_INPUTS in bench/harness.py")
    assert np.isfinite(value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", [n for n in harness.catalogue_losses()
                                  if n in peers.NUMPY_FORMULAS])
def test_numpy_formula_agrees_with_fastloss(loss, dtype):
    wl = harness.catalogue_workloads([loss], shapes=TINY, dtype=dtype)[0]
    case = harness.make_case(wl)
    call = peers.NumpyPeer().prepare(case, 1)
    value, grads = call.convert(call.run())
    ref_value, ref_grads = harness.reference(case)
    assert harness.check_all(value, grads, ref_value, ref_grads) is None
