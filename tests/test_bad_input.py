"""Every bad input raises the documented exception with a message naming the argument,
on both backends, before any kernel touches memory."""
import numpy as np
import pytest

import fastloss as fl
from cases import per_sample_shape, shape_for

rng = np.random.default_rng(0)
Y = rng.normal(size=(6, 3))
P = rng.normal(size=(6, 3))
LABELS = np.array([0, 1, 2, 0, 1, 2])
Z = rng.normal(size=(6, 3))

mse, huber, bce = fl.mse, fl.huber, fl.binary_cross_entropy
cce, scce = fl.categorical_cross_entropy, fl.sparse_categorical_cross_entropy
triplet, contrastive, cosine = fl.triplet, fl.contrastive, fl.cosine_embedding
dice, tversky = fl.dice, fl.tversky

# metric learning: anchor / positive / negative (6, 4), pair labels; segmentation masks
A, POS, NEG = rng.normal(size=(3, 6, 4))
SIM = np.array([1, 0, 1, 0, 1, 1])
SIGN = np.array([1, -1, 1, -1, 1, 1])
MASK = (rng.random((6, 5, 3)) < 0.5).astype(float)
PROB = rng.random((6, 5, 3))


def in_place(method, y, p, **kw):
    """out= the prediction itself."""
    p = p.copy()
    return method(y, p, out=p, **kw)


def overlapping_out(method, y, p):
    """out= a view that overlaps the prediction by all but one row."""
    base = np.zeros(p.size + p.shape[-1])
    pred = base[:p.size].reshape(p.shape)
    pred[...] = p
    return method(y, pred, out=base[p.shape[-1]:].reshape(p.shape))


def readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


# (id, call, exception, words the message must contain)
BAD = [
    ("shape-mismatch", lambda: mse(Y, P[:5]), ValueError, ["y_true", "shape"]),
    ("shape-mismatch-transposed", lambda: mse(Y.T, P), ValueError, ["y_true", "shape"]),
    ("label-too-large", lambda: scce(np.array([0, 1, 3, 0, 1, 2]), Z, from_logits=True),
     ValueError, ["y_true", "label 3", "[0, 3)"]),
    ("label-negative", lambda: scce(np.array([0, -1, 2, 0, 1, 2]), Z), ValueError,
     ["y_true", "label -1"]),
    ("label-negative-not-the-ignored-one",
     lambda: scce(np.array([0, -1, 2, 0, 1, 2]), Z, ignore_index=-100), ValueError,
     ["y_true", "ignore_index"]),
    ("labels-wrong-shape", lambda: scce(LABELS[:5], Z), ValueError, ["y_true", "shape"]),
    ("labels-float", lambda: scce(LABELS.astype(float), Z), TypeError, ["y_true", "integer"]),
    ("out-wrong-shape", lambda: mse.grad(Y, P, out=np.empty((3, 6))), ValueError,
     ["out", "shape"]),
    ("out-wrong-dtype", lambda: mse.grad(Y, P, out=np.empty((6, 3), np.float32)), ValueError,
     ["out", "dtype"]),
    ("out-not-contiguous", lambda: mse.grad(Y, P, out=np.empty((6, 6))[:, ::2]), ValueError,
     ["out", "contiguous"]),
    ("out-fortran", lambda: mse.grad(Y, P, out=np.empty((6, 3), order="F")), ValueError,
     ["out", "contiguous"]),
    ("out-readonly", lambda: mse.grad(Y, P, out=readonly(np.empty((6, 3)))), ValueError,
     ["out", "writable"]),
    ("out-not-array", lambda: mse.value_and_grad(Y, P, out=[[0.0] * 3] * 6), ValueError,
     ["out", "ndarray"]),
    ("out-is-y-pred", lambda: in_place(scce.value_and_grad, LABELS, Z, from_logits=True),
     ValueError, ["out", "share memory"]),
    ("out-overlaps-y-pred", lambda: overlapping_out(mse.grad, Y, P), ValueError,
     ["out", "share memory"]),
    ("out-is-y-true", lambda: (lambda y: mse.grad(y, P, out=y))(Y.copy()), ValueError,
     ["out", "share memory"]),
    ("weight-negative", lambda: mse(Y, P, sample_weight=[1, 1, -1, 1, 1, 1]), ValueError,
     ["sample_weight", ">= 0", "sample_weight[2]"]),
    ("weight-nan", lambda: mse(Y, P, sample_weight=[1, 1, 1, np.nan, 1, 1]), ValueError,
     ["sample_weight", "finite"]),
    ("weight-inf", lambda: mse(Y, P, sample_weight=[1, 1, 1, 1, np.inf, 1]), ValueError,
     ["sample_weight", "finite"]),
    ("weight-nan-sparse", lambda: scce(LABELS, Z, sample_weight=[1, np.nan, 1, 1, 1, 1]),
     ValueError, ["sample_weight", "finite"]),
    ("weight-wrong-shape", lambda: mse(Y, P, sample_weight=np.ones(5)), ValueError,
     ["sample_weight", "shape"]),
    ("weight-complex", lambda: mse(Y, P, sample_weight=np.ones(6) * 1j), TypeError,
     ["sample_weight", "complex"]),
    ("empty-batch", lambda: mse(np.empty((0, 3)), np.empty((0, 3))), ValueError,
     ["y_pred", "empty"]),
    ("empty-1d", lambda: mse([], []), ValueError, ["y_pred", "empty"]),
    ("empty-classes", lambda: scce(np.zeros(4, int), np.empty((4, 0))), ValueError,
     ["y_pred", "empty"]),
    ("scalar-prediction", lambda: mse(1.0, 2.0), ValueError, ["y_pred", "dimension"]),
    ("unknown-reduction", lambda: mse(Y, P, reduction="average"), ValueError,
     ["reduction", "'mean'"]),
    ("reduction-not-string", lambda: mse(Y, P, reduction=None), ValueError, ["reduction"]),
    ("unknown-loss", lambda: fl.get("mean_squared_errror"), ValueError,
     ["unknown loss", "did you mean", "mean_squared_error"]),
    ("loss-name-not-string", lambda: fl.get(3), ValueError, ["loss name"]),
    ("delta-zero", lambda: huber(Y, P, delta=0), ValueError, ["delta", "> 0"]),
    ("delta-negative", lambda: fl.get("huber", delta=-1.0), ValueError, ["delta"]),
    ("delta-nan", lambda: huber(Y, P, delta=float("nan")), ValueError, ["delta"]),
    ("delta-inf", lambda: huber(Y, P, delta=float("inf")), ValueError, ["delta"]),
    ("delta-string", lambda: huber(Y, P, delta="1"), ValueError, ["delta"]),
    ("smoothing-above-one", lambda: bce(Y > 0, P, label_smoothing=1.5), ValueError,
     ["label_smoothing", "[0, 1]"]),
    ("smoothing-negative", lambda: scce(LABELS, Z, label_smoothing=-0.1), ValueError,
     ["label_smoothing"]),
    ("eps-too-large", lambda: bce(Y > 0, np.clip(P, 0, 1), eps=0.7), ValueError, ["eps"]),
    ("eps-zero", lambda: bce(Y > 0, np.clip(P, 0, 1), eps=0.0), ValueError, ["eps"]),
    ("from-logits-not-bool", lambda: bce(Y > 0, P, from_logits="yes"), ValueError,
     ["from_logits"]),
    ("class-weight-wrong-length", lambda: scce(LABELS, Z, class_weight=[1.0, 2.0]),
     ValueError, ["class_weight", "3 classes"]),
    ("class-weight-negative", lambda: scce(LABELS, Z, class_weight=[1.0, -2.0, 1.0]),
     ValueError, ["class_weight", ">= 0"]),
    ("class-weight-2d", lambda: cce(np.eye(3)[LABELS], Z, class_weight=np.ones((3, 1))),
     ValueError, ["class_weight", "1-D"]),
    ("ignore-index-float", lambda: scce(LABELS, Z, ignore_index=1.5), ValueError,
     ["ignore_index"]),
    ("n-threads-zero", lambda: mse(Y, P, n_threads=0), ValueError, ["n_threads"]),
    ("n-threads-negative", lambda: mse(Y, P, n_threads=-2), ValueError, ["n_threads"]),
    ("n-threads-float", lambda: mse(Y, P, n_threads=1.5), ValueError, ["n_threads"]),
    ("n-threads-bool", lambda: mse(Y, P, n_threads=True), ValueError, ["n_threads"]),
    ("pred-complex", lambda: mse(Y, P * 1j), TypeError, ["y_pred", "complex"]),
    ("pred-object", lambda: mse(Y, P.astype(object)), TypeError, ["y_pred", "object"]),
    ("pred-string", lambda: mse(["a", "b"], ["c", "d"]), TypeError, ["y_pred"]),
    ("true-complex", lambda: mse(Y * 1j, P), TypeError, ["y_true", "complex"]),
    ("true-string", lambda: mse(np.array(["1", "2"]), np.ones(2)), TypeError, ["y_true"]),
    ("labels-string", lambda: scce(np.array(["a"] * 6), Z), TypeError, ["y_true", "integer"]),
    ("pred-ragged", lambda: mse([[1.0], [1.0, 2.0]], [[1.0], [1.0, 2.0]]), ValueError,
     ["y_pred"]),
    ("unknown-keyword", lambda: mse(Y, P, delta=1.0), TypeError, ["mse", "delta"]),
    ("unknown-keyword-get", lambda: fl.get("huber", beta=1.0), TypeError, ["beta"]),
    # ---- metric learning
    ("triplet-shape-mismatch", lambda: triplet(A, POS[:5], NEG), ValueError,
     ["positive", "shape"]),
    ("triplet-negative-transposed", lambda: triplet(A, POS, NEG.T), ValueError,
     ["negative", "shape"]),
    ("pair-shape-mismatch", lambda: contrastive(SIM, A, POS[:, :3]), ValueError,
     ["x2", "shape"]),
    ("triplet-two-arrays", lambda: triplet(A, POS), TypeError, ["triplet", "3 arrays"]),
    ("pair-missing-labels", lambda: cosine(A, POS), TypeError, ["cosine_embedding", "3 arrays"]),
    ("pair-labels-wrong-shape", lambda: contrastive(SIM[:5], A, POS), ValueError,
     ["y_true", "shape", "one label per sample"]),
    ("pair-labels-per-element", lambda: contrastive(np.ones((6, 4)), A, POS), ValueError,
     ["y_true", "shape"]),
    ("contrastive-label-2", lambda: contrastive(SIM * 2, A, POS), ValueError,
     ["y_true", "2", "1 (similar) or 0"]),
    ("contrastive-label-nan", lambda: contrastive(np.where(SIM, np.nan, 0), A, POS),
     ValueError, ["y_true", "nan"]),
    ("cosine-label-0", lambda: cosine(SIM, A, POS), ValueError, ["y_true", "1 or -1"]),
    ("pair-labels-string", lambda: cosine(np.array(["1"] * 6), A, POS), TypeError,
     ["y_true"]),
    ("x2-complex", lambda: cosine(SIGN, A, POS * 1j), TypeError, ["x2", "complex"]),
    ("triplet-empty", lambda: triplet(np.empty((0, 4)), np.empty((0, 4)), np.empty((0, 4))),
     ValueError, ["anchor", "empty"]),
    ("triplet-out-wrong-length", lambda: triplet.grad(A, POS, NEG, out=(np.empty((6, 4)),) * 2),
     ValueError, ["out", "tuple of 3", "anchor, positive, negative"]),
    ("triplet-out-not-tuple", lambda: triplet.value_and_grad(A, POS, NEG, out=np.empty((6, 4))),
     ValueError, ["out", "tuple of 3"]),
    ("pair-out-wrong-shape", lambda: contrastive.grad(SIM, A, POS,
                                                      out=(np.empty((6, 4)), np.empty((4, 6)))),
     ValueError, ["out[1]", "shape"]),
    ("pair-out-wrong-dtype", lambda: cosine.grad(SIGN, A, POS, out=(
        np.empty((6, 4), np.float32), np.empty((6, 4)))), ValueError, ["out[0]", "dtype"]),
    ("pair-out-shared", lambda: cosine.grad(SIGN, A, POS, out=(np.empty((6, 4)),) * 2),
     ValueError, ["out[0]", "out[1]", "share memory"]),
    ("pair-out-readonly", lambda: contrastive.grad(SIM, A, POS, out=(
        np.empty((6, 4)), readonly(np.empty((6, 4))))), ValueError, ["out[1]", "writable"]),
    ("triplet-margin-zero", lambda: triplet(A, POS, NEG, margin=0), ValueError,
     ["margin", "> 0"]),
    ("triplet-margin-nan", lambda: fl.get("triplet", margin=float("nan")), ValueError,
     ["margin"]),
    ("contrastive-margin-negative", lambda: contrastive(SIM, A, POS, margin=-1.0), ValueError,
     ["margin", "> 0"]),
    ("triplet-p-below-one", lambda: triplet(A, POS, NEG, p=0.5), ValueError, ["p", "[1.0"]),
    ("triplet-p-inf", lambda: triplet(A, POS, NEG, p=float("inf")), ValueError, ["p"]),
    ("triplet-p-string", lambda: triplet(A, POS, NEG, p="2"), ValueError, ["p"]),
    ("triplet-swap-not-bool", lambda: triplet(A, POS, NEG, swap=1), ValueError, ["swap"]),
    ("triplet-eps-negative", lambda: triplet(A, POS, NEG, eps=-1e-6), ValueError, ["eps"]),
    ("cosine-margin-above-one", lambda: cosine(SIGN, A, POS, margin=1.5), ValueError,
     ["margin", "[-1.0, 1.0]"]),
    ("triplet-weight-negative", lambda: triplet(A, POS, NEG, sample_weight=[1, 1, -1, 1, 1, 1]),
     ValueError, ["sample_weight", ">= 0", "sample_weight[2]"]),
    ("triplet-weight-per-element", lambda: triplet(A, POS, NEG, sample_weight=np.ones((6, 4))),
     ValueError, ["sample_weight", "shape"]),
    ("triplet-unknown-keyword", lambda: triplet(A, POS, NEG, delta=1.0), TypeError,
     ["triplet", "delta"]),
    # ---- segmentation
    ("dice-shape-mismatch", lambda: dice(MASK[:, :4], PROB), ValueError, ["y_true", "shape"]),
    ("dice-smooth-negative", lambda: dice(MASK, PROB, smooth=-1.0), ValueError, ["smooth"]),
    ("dice-smooth-nan", lambda: dice(MASK, PROB, smooth=float("nan")), ValueError,
     ["smooth"]),
    ("tversky-alpha-negative", lambda: tversky(MASK, PROB, alpha=-0.1), ValueError,
     ["alpha"]),
    ("tversky-beta-inf", lambda: tversky(MASK, PROB, beta=float("inf")), ValueError,
     ["beta"]),
    ("class-axis-batch", lambda: dice(MASK, PROB, class_axis=0), ValueError,
     ["class_axis=0", "non-batch"]),
    ("class-axis-out-of-range", lambda: dice(MASK, PROB, class_axis=3), ValueError,
     ["class_axis=3"]),
    ("class-axis-too-negative", lambda: dice(MASK, PROB, class_axis=-3), ValueError,
     ["class_axis=-3"]),
    ("class-axis-1d-input", lambda: dice(MASK[:, 0, 0], PROB[:, 0, 0], class_axis=-1),
     ValueError, ["class_axis"]),
    ("class-axis-float", lambda: dice(MASK, PROB, class_axis=1.0), ValueError,
     ["class_axis"]),
    ("dice-out-tuple", lambda: dice.grad(MASK, PROB, out=(np.empty((6, 5, 3)),)), ValueError,
     ["out", "ndarray"]),
    ("dice-weight-per-pixel", lambda: dice(MASK, PROB, sample_weight=np.ones((6, 5))),
     ValueError, ["sample_weight", "shape", "(6,)"]),
    ("dice-from-logits-not-bool", lambda: dice(MASK, PROB, from_logits=None), ValueError,
     ["from_logits"]),
    # parameters of the catalogue's regression, classification and distribution losses
    ("beta-negative", lambda: fl.smooth_l1(Y, P, beta=-0.5), ValueError, ["beta", ">= 0"]),
    ("beta-nan", lambda: fl.smooth_l1(Y, P, beta=float("nan")), ValueError, ["beta"]),
    ("beta-inf", lambda: fl.get("smooth_l1", beta=float("inf")), ValueError, ["beta"]),
    ("beta-string", lambda: fl.smooth_l1(Y, P, beta="1"), ValueError, ["beta"]),
    ("quantile-zero", lambda: fl.quantile(Y, P, quantile=0.0), ValueError,
     ["quantile", "(0, 1)"]),
    ("quantile-one", lambda: fl.quantile(Y, P, quantile=1), ValueError, ["quantile"]),
    ("quantile-above-one", lambda: fl.get("pinball", quantile=1.5), ValueError, ["quantile"]),
    ("quantile-nan", lambda: fl.quantile(Y, P, quantile=float("nan")), ValueError,
     ["quantile"]),
    ("quantile-bool", lambda: fl.quantile(Y, P, quantile=True), ValueError, ["quantile"]),
    ("poisson-eps-zero", lambda: fl.poisson(Y, P, log_input=False, eps=0.0), ValueError,
     ["eps", "> 0"]),
    ("poisson-eps-negative", lambda: fl.get("poisson", eps=-1e-8), ValueError, ["eps"]),
    ("poisson-log-input-not-bool", lambda: fl.poisson(Y, P, log_input=1), ValueError,
     ["log_input"]),
    ("poisson-full-not-bool", lambda: fl.poisson(Y, P, full="yes"), ValueError, ["full"]),
    ("msle-y-true-minus-one", lambda: fl.msle(np.where(Y < 0, -1.0, Y), np.abs(P)), ValueError,
     ["y_true", "> -1"]),
    ("msle-y-pred-below-minus-one", lambda: fl.msle(np.abs(Y), P - 5), ValueError,
     ["y_pred", "> -1"]),
    ("mape-epsilon-zero", lambda: fl.mape(Y, P, epsilon=0), ValueError, ["epsilon", "> 0"]),
    ("mape-epsilon-nan", lambda: fl.mape(Y, P, epsilon=float("nan")), ValueError,
     ["epsilon"]),
    ("mape-percent-not-bool", lambda: fl.mape(Y, P, percent=100), ValueError, ["percent"]),
    ("gamma-negative", lambda: fl.binary_focal(Y > 0, P, gamma=-1.0), ValueError,
     ["gamma", ">= 0"]),
    ("gamma-inf", lambda: fl.categorical_focal(np.eye(3)[LABELS], Z, gamma=float("inf")),
     ValueError, ["gamma"]),
    ("gamma-nan", lambda: fl.get("binary_focal", gamma=float("nan")), ValueError, ["gamma"]),
    ("gamma-string", lambda: fl.binary_focal(Y > 0, P, gamma="2"), ValueError, ["gamma"]),
    ("alpha-above-one", lambda: fl.binary_focal(Y > 0, P, alpha=1.5), ValueError,
     ["alpha", "[0, 1]"]),
    ("alpha-negative", lambda: fl.categorical_focal(np.eye(3)[LABELS], Z, alpha=-0.25),
     ValueError, ["alpha"]),
    ("alpha-nan", lambda: fl.get("sigmoid_focal_loss", alpha=float("nan")), ValueError,
     ["alpha"]),
    ("alpha-list", lambda: fl.categorical_focal(np.eye(3)[LABELS], Z, alpha=[0.2, 0.3, 0.5]),
     ValueError, ["alpha", "class_weight"]),
    ("focal-eps-too-large", lambda: fl.binary_focal(Y > 0, np.clip(P, 0, 1), eps=0.5),
     ValueError, ["eps"]),
    ("focal-from-logits-not-bool", lambda: fl.binary_focal(Y > 0, P, from_logits=None),
     ValueError, ["from_logits"]),
    ("focal-class-weight-wrong-length",
     lambda: fl.categorical_focal(np.eye(3)[LABELS], Z, class_weight=[1.0, 2.0]), ValueError,
     ["class_weight", "3 classes"]),
    ("margin-inf", lambda: fl.categorical_hinge(np.eye(3)[LABELS], Z, margin=float("inf")),
     ValueError, ["margin", "finite"]),
    ("margin-nan", lambda: fl.get("CategoricalHinge", margin=float("nan")), ValueError,
     ["margin"]),
    ("margin-string", lambda: fl.categorical_hinge(np.eye(3)[LABELS], Z, margin="1"),
     ValueError, ["margin"]),
    ("hinge-has-no-margin", lambda: fl.hinge(Y > 0, P, margin=1.0), TypeError,
     ["hinge", "margin"]),
    ("kl-log-input-not-bool", lambda: fl.kl_divergence(np.eye(3)[LABELS], Z, log_input="no"),
     ValueError, ["log_input"]),
    ("kl-log-target-not-bool", lambda: fl.kl_divergence(np.eye(3)[LABELS], Z, log_target=0),
     ValueError, ["log_target"]),
    ("kl-eps-zero", lambda: fl.kl_divergence(np.eye(3)[LABELS], np.abs(Z), eps=0.0),
     ValueError, ["eps"]),
    ("kl-shape-mismatch", lambda: fl.kl_divergence(np.eye(4)[LABELS], Z), ValueError,
     ["y_true", "shape"]),
]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("call, exc, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_naming_the_argument(call, exc, words, backend):
    with fl.use_backend(backend):
        with pytest.raises(exc) as info:
            call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# ---- rows every registered loss gets, from its first row in tests/cases.py ----------------

def generic_bad_calls(loss, case):
    """(id, call, exception, words) rows that apply to any loss, built from valid inputs
    drawn for ``case``: a new loss gets them by having a row in tests/cases.py."""
    from cases import call_args, preds_of
    y_true, y_pred = case.inputs(np.random.default_rng(1), shape_for(case), np.float64)
    preds = preds_of(case, y_pred)
    args = call_args(case, y_true, preds)
    first = loss.inputs[len(loss.inputs) - len(preds)]     # the first differentiated input
    cut = call_args(case, y_true, (preds[0][:-1],) + preds[1:])   # one input a row short
    cplx = call_args(case, y_true, (preds[0].astype(complex),) + preds[1:])
    empty = call_args(case, None if y_true is None else y_true[:0],
                      tuple(x[:0] for x in preds))
    prm = case.params
    return [
        ("reduction-unknown", lambda: loss(*args, reduction="avg", **prm), ValueError,
         ["reduction", "'avg'"]),
        ("reduction-none-object", lambda: loss(*args, reduction=None, **prm), ValueError,
         ["reduction"]),
        ("n-threads-zero", lambda: loss(*args, n_threads=0, **prm), ValueError,
         ["n_threads"]),
        ("n-threads-float", lambda: loss(*args, n_threads=2.0, **prm), ValueError,
         ["n_threads"]),
        ("unknown-keyword", lambda: loss(*args, not_a_parameter=1, **prm), TypeError,
         ["not_a_parameter", loss.name]),
        ("complex-input", lambda: loss(*cplx, **prm), TypeError, [first, "complex"]),
        ("shape-mismatch", lambda: loss(*cut, **prm), ValueError, ["shape"]),
        ("empty-batch", lambda: loss(*empty, **prm), ValueError, ["empty"]),
        ("weight-negative",
         lambda: loss(*args, sample_weight=-np.ones(per_sample_shape(case, preds[0])), **prm),
         ValueError, ["sample_weight", ">= 0"]),
        ("out-wrong-shape",
         lambda: loss.grad(*args, out=_wrong_out(preds), **prm), ValueError, ["out"]),
    ]


def _wrong_out(preds):
    bufs = tuple(np.empty(x.shape + (2,)) for x in preds)
    return bufs if len(bufs) > 1 else bufs[0]


def _first_cases():
    from cases import CASES
    seen = {}
    for c in CASES:
        seen.setdefault(c.loss, c)
    return list(seen.values())


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("case", _first_cases(), ids=str)
def test_generic_bad_input_for_every_loss(case, backend):
    loss = fl.get(case.loss)
    with fl.use_backend(backend):
        for row_id, call, exc, words in generic_bad_calls(loss, case):
            with pytest.raises(exc) as info:
                call()
            for word in words:
                assert word in str(info.value), (row_id, word, str(info.value))


def test_bad_input_leaves_out_buffer_untouched():
    buf = np.full((6, 3), 7.0)
    with pytest.raises(ValueError):
        mse.value_and_grad(Y, P, sample_weight=[1, 1, -1, 1, 1, 1], out=buf)
    with pytest.raises(ValueError):
        scce.value_and_grad(np.array([0, 9, 0, 0, 0, 0]), Z, out=buf)
    with pytest.raises(ValueError):
        fl.msle.value_and_grad(np.abs(Y), P - 5, out=buf)
    assert np.all(buf == 7.0)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_bad_input_leaves_out_tuple_untouched(backend):
    bufs = tuple(np.full((6, 4), 7.0) for _ in range(3))
    with fl.use_backend(backend):
        with pytest.raises(ValueError):
            triplet.value_and_grad(A, POS, NEG, sample_weight=[1, 1, -1, 1, 1, 1], out=bufs)
        with pytest.raises(ValueError):
            cosine.value_and_grad(SIM, A, POS, out=bufs[:2])
        with pytest.raises(ValueError):
            triplet.grad(A, POS, NEG, out=bufs[:2] + (np.empty((6, 3)),))
    assert all(np.all(b == 7.0) for b in bufs)


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")
def test_kernel_entry_point_refuses_inconsistent_arrays():
    """The last line of defence: the compiled entry point checks what it dereferences."""
    from fastloss import _kernels as K
    p = np.zeros((4, 3))
    cases = [
        (lambda: K.run(0, np.zeros(5), p, 3, None, None, None, None, 2), "y_true"),
        (lambda: K.run(0, np.zeros((4, 3), np.float32), p, 3, None, None, None, None, 2),
         "y_true"),
        (lambda: K.run(0, p, p, 3, np.zeros(5), None, None, None, 2), "out"),
        (lambda: K.run(0, p, p, 3, readonly(p), None, None, None, 2), "out"),
        (lambda: K.run(0, p, p, 3, None, np.zeros(3), None, None, 2), "per-sample"),
        (lambda: K.run(0, p, p, 3, None, None, np.ones(3), None, 2), "sample_weight"),
        (lambda: K.run(8, np.zeros(4), p, 3, None, None, None, None, 2), "int64"),
        (lambda: K.run(8, np.array([0, 1, 2, 3]), p, 3, None, None, None, None, 2), "label 3"),
        (lambda: K.run(8, np.zeros(4, np.int64), p, 3, None, None, None, np.ones(2), 2),
         "class_weight"),
        (lambda: K.run(0, p, p, 3, None, None, None, None, 7), "reduction"),
        (lambda: K.run(99, p, p, 3, None, None, None, None, 2), "kernel"),
        (lambda: K.run(0, p, p, 5, None, None, None, None, 2), "last axis"),
        (lambda: K.run(0, p.astype(np.int64), p.astype(np.int64), 3, None, None, None, None, 2),
         "float32 or float64"),
        (lambda: K.run(0, p, np.asfortranarray(np.zeros((3, 4))), 4, None, None, None, None, 2),
         "C-contiguous"),
    ]
    for call, word in cases:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert word in str(info.value)


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")
def test_multi_input_kernel_entry_point_refuses_inconsistent_arrays():
    """run_multi checks everything it dereferences, like run (weight *values* are the
    validator's business: a negative weight cannot make a kernel read out of bounds)."""
    from fastloss import _kernels as K
    x = np.zeros((4, 3))
    y = np.ones(4)
    g = (np.zeros((4, 3)), np.zeros((4, 3)))
    cases = [
        (lambda: K.run_multi(0, y, (x,), None, 3, None, None, 2), "unknown kernel"),
        (lambda: K.run_multi(40, y, (x,), None, 3, None, None, 2), "2 inputs"),
        (lambda: K.run_multi(40, y, (x, np.zeros((4, 2))), None, 3, None, None, 2), "input 1"),
        (lambda: K.run_multi(40, y, (x, x.astype(np.float32)), None, 3, None, None, 2),
         "input 1"),
        (lambda: K.run_multi(40, np.ones(3), (x, x), None, 3, None, None, 2), "y_true"),
        (lambda: K.run_multi(40, None, (x, x), None, 3, None, None, 2), "y_true"),
        (lambda: K.run_multi(41, y, (x, x, x), None, 3, None, None, 2), "no y_true"),
        (lambda: K.run_multi(40, y, (x, x), g[:1], 3, None, None, 2), "tuple of 2"),
        (lambda: K.run_multi(40, y, (x, x), (g[0], readonly(g[1])), 3, None, None, 2),
         "out[1]"),
        (lambda: K.run_multi(40, y, (x, x), g, 3, np.zeros(3), None, 2), "per-sample"),
        (lambda: K.run_multi(40, y, (x, x), g, 3, None, np.ones(3), 2), "sample_weight"),
        (lambda: K.run_multi(40, y, (x, x), g, 5, None, None, 2), "row length"),
        (lambda: K.run_multi(40, y, (x, x), g, 3, None, None, 9), "reduction"),
        (lambda: K.run_multi(43, x, (x,), None, 3, None, None, 2, n_classes=2), "laid out"),
        (lambda: K.run_multi(43, x, (x,), None, 3, None, None, 2, n_classes=0), "laid out"),
        (lambda: K.run_multi(43, y, (x,), None, 3, None, None, 2), "y_true"),
        (lambda: K.run_multi(41, None, (x.astype(int),) * 3, None, 3, None, None, 2),
         "float32 or float64"),
    ]
    for call, word in cases:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert word in str(info.value), (word, str(info.value))
