"""The benchmark's catalogue mode: a workload for every loss beyond the core six, and
hand-written NumPy formulas (the "numpy" peer) that agree with fastloss.  Tiny sizes."""
import numpy as np
import pytest

import fastloss
from fastloss._bench import CATALOGUE, LOSSES, catalogue_workloads, check_all, make_case, \
    reference
from fastloss._bench_peers import NUMPY_FORMULAS, NumpyPeer
from fastloss._registry import SPECS

TINY = {"regression": (257,), "counts": (257,), "positive": (257,), "binary": (257,),
        "signed": (257,), "categorical": (33, 7), "onehot": (33, 7), "distributions": (33, 7),
        "contrastive": (33, 7), "triplet": (33, 7), "cosine": (33, 7),
        "segmentation": (5, 6, 7)}


def test_catalogue_covers_every_other_loss():
    # the built-in losses (other tests register custom ones into fastloss.available())
    builtin = {spec.name for spec in SPECS if spec.kind != "custom"}
    assert builtin <= set(fastloss.available())
    assert set(CATALOGUE) == builtin - set(LOSSES)
    assert set(CATALOGUE) <= set(NUMPY_FORMULAS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("wl", catalogue_workloads(shapes=TINY), ids=lambda w: w.loss)
def test_numpy_formula_agrees_with_fastloss(wl, dtype):
    wl = type(wl)(wl.loss, wl.shape, dtype)
    case = make_case(wl)
    call = NumpyPeer().prepare(case, 1)
    value, grads = call.convert(call.run())
    ref_value, ref_grads = reference(case)
    assert check_all(value, grads, ref_value, ref_grads) is None
