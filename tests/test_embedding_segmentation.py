"""What the battery's rows cannot say about the metric-learning and segmentation losses:
the multi-input API (gradient tuples, argument order, mixed dtypes), the class axis, the
special cases Dice/IoU of Tversky, limits (zero distances, zero vectors, infinite logits),
aliases, no allocation with out=, concurrency."""
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastloss as fl

BACKENDS = ["cython", "numpy"]
compiled = pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fl.use_backend(request.param):
        yield request.param


rng = np.random.default_rng(0)
A, P, N = rng.normal(size=(3, 8, 5))
SIM = (rng.random(8) < 0.5).astype(float)
SIGN = np.where(rng.random(8) < 0.5, 1.0, -1.0)


def masks(shape, seed=1, logits=False):
    r = np.random.default_rng(seed)
    t = (r.random(shape) < 0.4).astype(float)
    return t, (2 * r.normal(size=shape) if logits else r.uniform(0.01, 0.99, size=shape))


# ---- the multi-input API -------------------------------------------------------------------

def test_one_gradient_per_input_in_argument_order(backend):
    assert fl.triplet.inputs == ("anchor", "positive", "negative")
    assert fl.contrastive.inputs == fl.cosine_embedding.inputs == ("y_true", "x1", "x2")
    assert fl.dice.inputs == ("y_true", "y_pred")
    value, (ga, gp, gn) = fl.triplet.value_and_grad(A, P, N)
    assert isinstance(value, float) and ga.shape == gp.shape == gn.shape == A.shape
    # swapped positive and negative (every hinge active): l' = m + d(a, n) - d(a, p), so
    # the gradients come back in argument order, each the negative of the other role's
    g = fl.triplet.grad(A, P, N, margin=20.0)
    h = fl.triplet.grad(A, N, P, margin=20.0)
    np.testing.assert_allclose(h[1], -g[2], rtol=1e-14)
    np.testing.assert_allclose(h[2], -g[1], rtol=1e-14)
    np.testing.assert_allclose(h[0], -g[0], rtol=1e-14)
    g1, g2 = fl.contrastive.grad(SIM, A, P)
    np.testing.assert_allclose(g1, -g2)
    h1, h2 = fl.contrastive.grad(SIM, P, A)
    np.testing.assert_allclose(h1, g2, rtol=1e-14)
    assert isinstance(fl.dice.grad(*masks((4, 6))), np.ndarray)


def test_one_dimensional_input_is_one_sample(backend):
    value, grads = fl.triplet.value_and_grad(A[0], P[0], N[0])
    assert value == pytest.approx(fl.triplet(A[:1], P[:1], N[:1]))
    per = fl.triplet(A[0], P[0], N[0], reduction="none")
    assert per.shape == () and per == pytest.approx(value)
    assert fl.cosine_embedding(1, A[0], P[0], reduction="none").shape == ()


def test_mixed_and_half_dtypes(backend):
    a32 = A.astype(np.float32)
    value, (ga, gp, gn) = fl.triplet.value_and_grad(a32, P, N, reduction="none")
    assert (ga.dtype, gp.dtype, gn.dtype) == (np.float32, np.float64, np.float64)
    assert value.dtype == np.float64
    ref_value, ref_grads = fl.triplet.value_and_grad(a32.astype(np.float64), P, N,
                                                     reduction="none")
    np.testing.assert_allclose(value, ref_value, rtol=1e-14)
    np.testing.assert_allclose(gp, ref_grads[1], rtol=1e-14)
    outs = (np.empty_like(a32), np.empty_like(P), np.empty_like(N))
    _, got = fl.triplet.value_and_grad(a32, P, N, out=outs)
    assert all(g is o for g, o in zip(got, outs))
    h1, h2 = fl.cosine_embedding.grad(SIGN, A.astype(np.float16), P.astype(np.float16))
    assert h1.dtype == h2.dtype == np.float16
    t, x = masks((4, 6))
    g16 = fl.dice.grad(t, x.astype(np.float16))
    assert g16.dtype == np.float16
    with pytest.raises(ValueError, match=r"out\[0\].*dtype"):
        fl.triplet.grad(a32, P, N, out=(np.empty_like(P),) + outs[1:])


def test_integer_and_bool_labels_are_cast(backend):
    assert fl.contrastive(SIM.astype(bool), A, P) == fl.contrastive(SIM, A, P)
    assert fl.cosine_embedding(SIGN.astype(np.int8), A, P) == fl.cosine_embedding(SIGN, A, P)
    assert fl.contrastive(SIM.tolist(), A.tolist(), P.tolist()) == fl.contrastive(SIM, A, P)


def test_soft_contrastive_labels_interpolate(backend):
    y = np.full(8, 0.25)
    both = fl.contrastive(y, A, P, reduction="none")
    np.testing.assert_allclose(both, 0.25 * fl.contrastive(np.ones(8), A, P, reduction="none")
                               + 0.75 * fl.contrastive(np.zeros(8), A, P, reduction="none"))


# ---- segmentation: class axis and special cases ----------------------------------------------

@pytest.mark.parametrize("name, params", [("dice", {}), ("iou", {"from_logits": True}),
                                          ("tversky", {"alpha": 0.2, "beta": 0.9})])
@pytest.mark.parametrize("layout", ["first", "last"])
def test_class_axis_is_the_mean_of_per_class_scores(name, params, layout, backend):
    shape = (3, 4, 5, 6) if layout == "first" else (3, 5, 6, 4)
    axis = 1 if layout == "first" else -1
    t, x = masks(shape, logits=params.get("from_logits", False))
    loss = fl.get(name, **params)
    per, grad = loss.value_and_grad(t, x, class_axis=axis, reduction="none")
    tc, xc = np.moveaxis(t, axis, 0), np.moveaxis(x, axis, 0)
    parts = [loss.value_and_grad(tc[c], xc[c], reduction="none") for c in range(4)]
    np.testing.assert_allclose(per, np.mean([v for v, _ in parts], axis=0), rtol=1e-13)
    np.testing.assert_allclose(np.moveaxis(grad, axis, 0), np.stack([g for _, g in parts]) / 4,
                               rtol=1e-12, atol=1e-16)
    other = axis + 4 if axis < 0 else axis - 4
    np.testing.assert_array_equal(loss(t, x, class_axis=other, reduction="none"), per)


def test_class_axis_of_one_class_is_no_class_axis(backend):
    t, x = masks((3, 5, 1))
    np.testing.assert_array_equal(fl.dice.grad(t, x, class_axis=-1), fl.dice.grad(t, x))
    assert fl.dice(t, x, class_axis=2) == fl.dice(t, x)


def test_many_classes_channels_last(backend):
    """More classes than fit anyone's stack: the per-thread scratch grows with C."""
    t, x = masks((6, 7, 300), logits=True)
    value, grad = fl.tversky.value_and_grad(t, x, class_axis=-1, from_logits=True,
                                            alpha=0.4, beta=0.6)
    with fl.use_backend("numpy"):
        ref_value, ref_grad = fl.tversky.value_and_grad(t, x, class_axis=-1, from_logits=True,
                                                        alpha=0.4, beta=0.6)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-18)


@pytest.mark.parametrize("logits", [False, True])
def test_dice_and_iou_are_tversky_special_cases(logits, backend):
    t, x = masks((4, 3, 5), logits=logits)
    for smooth in (0.0, 1.0, 3.0):
        d = fl.dice.value_and_grad(t, x, smooth=smooth, from_logits=logits, reduction="none")
        dt = fl.tversky.value_and_grad(t, x, alpha=0.5, beta=0.5, smooth=smooth / 2,
                                       from_logits=logits, reduction="none")
        i = fl.iou.value_and_grad(t, x, smooth=smooth, from_logits=logits, reduction="none")
        it = fl.tversky.value_and_grad(t, x, alpha=1.0, beta=1.0, smooth=smooth,
                                       from_logits=logits, reduction="none")
        for (v1, g1), (v2, g2) in ((d, dt), (i, it)):
            np.testing.assert_array_equal(v1, v2)
            np.testing.assert_array_equal(g1, g2)
    # and by their definitions
    tp, st, sq = (t * x).sum(axis=(1, 2)), t.sum(axis=(1, 2)), x.sum(axis=(1, 2))
    if not logits:
        np.testing.assert_allclose(fl.dice(t, x, reduction="none"),
                                   1 - (2 * tp + 1) / (st + sq + 1), rtol=1e-14)
        np.testing.assert_allclose(fl.iou(t, x, reduction="none"),
                                   1 - (tp + 1) / (st + sq - tp + 1), rtol=1e-14)


def test_overlap_limits(backend):
    t = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    z = np.array([[np.inf, np.inf, -np.inf, -np.inf], [-np.inf] * 4])
    for name in ("dice", "iou", "tversky"):
        value, grad = fl.get(name).value_and_grad(t, z, from_logits=True, reduction="none")
        np.testing.assert_array_equal(value, [0.0, 0.0])       # perfect, empty-and-predicted
        np.testing.assert_array_equal(grad, 0.0)               # saturated sigmoid
    v0 = fl.dice(np.zeros((1, 3)), np.zeros((1, 3)), smooth=0.0, reduction="none")
    assert np.isnan(v0[0])                                      # 0 / 0, as documented
    v1 = fl.dice(np.zeros((1, 3)), np.zeros((1, 3)), reduction="none")
    assert v1[0] == 0.0                                         # smooth keeps it finite


def test_sample_weight_is_per_sample_for_segmentation(backend):
    t, x = masks((5, 4, 3))
    w = np.arange(1.0, 6.0)
    per = fl.dice(t, x, reduction="none")
    assert fl.dice(t, x, sample_weight=w) == pytest.approx((w * per).sum() / w.sum())
    assert fl.dice(t, x, sample_weight=w, reduction="sum_over_batch_size") == \
        pytest.approx((w * per).sum() / 5)


# ---- metric learning: limits -------------------------------------------------------------------

def test_zero_distances_and_zero_vectors_are_finite(backend):
    x = np.ones((2, 3))
    value, (g1, g2) = fl.contrastive.value_and_grad([0, 1], x, x.copy(), margin=2.0,
                                                    reduction="none")
    np.testing.assert_array_equal(value, [4.0, 0.0])            # margin^2 for a dissimilar pair
    np.testing.assert_array_equal(g1, 0.0)                      # hinge direction undefined: 0
    np.testing.assert_array_equal(g2, 0.0)
    value, grads = fl.triplet.value_and_grad(x, x.copy(), x.copy(), reduction="none")
    np.testing.assert_allclose(value, 1.0)                      # d(a,p) = d(a,n)
    assert all(np.all(np.isfinite(g)) for g in grads)
    zero = np.zeros((2, 3))
    value, grads = fl.cosine_embedding.value_and_grad([1, -1], zero, x, reduction="none")
    np.testing.assert_array_equal(value, [1.0, 0.0])            # cos = 0 with PyTorch's eps
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_triplet_eps_and_swap_semantics(backend):
    a, p, n = np.zeros((1, 2)), np.array([[3.0, 0.0]]), np.array([[0.0, 1.0]])
    # d(a, p) = 3, d(a, n) = 1, d(p, n) = sqrt(10): no swap, margin 1 -> 3
    assert fl.triplet(a, p, n, eps=0.0) == pytest.approx(3.0)
    n2 = np.array([[2.9, 0.0]])                 # d(p, n) = 0.1 < d(a, n) = 2.9: swap uses 0.1
    assert fl.triplet(a, p, n2, eps=0.0, swap=True) == pytest.approx(3.9)
    assert fl.triplet(a, p, n2, eps=0.0) == pytest.approx(1.1)
    default = fl.triplet(a, p, n)               # eps = 1e-6 added inside the norm
    assert default != fl.triplet(a, p, n, eps=0.0)
    assert default == pytest.approx(3.0, abs=1e-5)


# ---- registry, docs, allocation, concurrency ---------------------------------------------------

@pytest.mark.parametrize("alias, name", [
    ("TripletMarginLoss", "triplet"), ("triplet_margin_loss", "triplet"),
    ("triplet_loss", "triplet"), ("CosineEmbeddingLoss", "cosine_embedding"),
    ("cosine_embedding_loss", "cosine_embedding"), ("ContrastiveLoss", "contrastive"),
    ("contrastive_loss", "contrastive"), ("Dice", "dice"), ("dice_loss", "dice"),
    ("DiceLoss", "dice"), ("Tversky", "tversky"), ("TverskyLoss", "tversky"),
    ("jaccard", "iou"), ("soft_jaccard", "iou"), ("IoULoss", "iou"), ("JaccardLoss", "iou"),
])
def test_aliases(alias, name):
    assert fl.get(alias).name == name


def test_listed_and_documented():
    names = ["contrastive", "triplet", "cosine_embedding", "dice", "iou", "tversky"]
    assert all(n in fl.available() for n in names)
    for n in names:
        doc = getattr(fl, n).__doc__
        assert "Reference" in doc and "sum(w_i l_i) / sum(w_i)" in doc and "Shapes" in doc
    assert "tuple" in fl.triplet.__doc__ and "class_axis" in fl.dice.__doc__
    assert repr(fl.get("triplet", swap=True)) == "fastloss.triplet(swap=True)"


@compiled
@pytest.mark.parametrize("name, make", [
    ("triplet", lambda r: tuple(r.normal(size=(3, 20_000, 16)))),
    ("dice", lambda r: ((r.random((8, 64, 64, 4)) < 0.5) * 1.0, r.random((8, 64, 64, 4)))),
])
def test_value_and_grad_with_out_allocates_no_arrays(name, make):
    inputs = make(np.random.default_rng(2))
    loss = fl.get(name, **({"class_axis": -1} if name == "dice" else {}))
    preds = inputs if name == "triplet" else inputs[1:]
    outs = tuple(np.empty_like(x) for x in preds)
    out = outs if len(outs) > 1 else outs[0]
    loss.value_and_grad(*inputs, out=out)
    tracemalloc.start()
    try:
        loss.value_and_grad(*inputs, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000, f"value_and_grad(out=...) allocated {peak} bytes"


def test_concurrent_calls_from_python_threads(backend):
    r = np.random.default_rng(3)
    inputs = [tuple(r.normal(size=(3, 3000, 8))) for _ in range(6)]
    expected = [fl.triplet.value_and_grad(*x, swap=True) for x in inputs]

    def call(x):
        with fl.use_backend(backend):       # the backend choice is per thread
            return fl.triplet.value_and_grad(*x, swap=True)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, inputs * 3))
    for i, (value, grads) in enumerate(results):
        assert value == expected[i % 6][0]
        assert all(np.array_equal(g, e) for g, e in zip(grads, expected[i % 6][1]))
