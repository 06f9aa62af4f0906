"""fastloss.torch: the fused kernel inside PyTorch's autograd.

Each PyTorch-named module is checked against torch.nn's module of that name (values and
gradients, every reduction) and with ``torch.autograd.gradcheck`` in float64; ``get`` is
gradchecked for every loss of the shared case table; training a small MLP on the digits
ends at torch's own parameters; ``torch.compile`` traces through the custom op.
PyTorch is in the ``test`` extra: this module is never skipped.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import fastloss.torch as flt

import cases as C


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed=0, dtype=torch.float64, scale=1.0):
    return (scale * torch.randn(*shape, generator=_rng(seed), dtype=dtype)).requires_grad_()


def _probs(*shape, seed=0, dtype=torch.float64):
    return (0.05 + 0.9 * torch.rand(*shape, generator=_rng(seed), dtype=dtype)).requires_grad_()


def _binary(*shape, seed=1, dtype=torch.float64):
    t = (torch.rand(*shape, generator=_rng(seed), dtype=dtype) < 0.5).to(dtype)
    t.view(-1)[::3] = 0.3                                  # a few soft targets
    return t


def _labels(n, c, seed=1, ignore=False, extra=()):
    y = torch.randint(0, c, (n,) + tuple(extra), generator=_rng(seed))
    if ignore:
        y.view(-1)[::4] = -100
    return y


def _soft(*shape, seed=1, dtype=torch.float64):
    return torch.softmax(torch.randn(*shape, generator=_rng(seed), dtype=dtype), dim=1)


W5 = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)

# (id, fastloss module, torch module, inputs: () -> tuple of tensors in torch's order; the
# tensors that require grad are the differentiated ones)
MODULES = [
    ("mse", lambda r: flt.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r),
     lambda: (_randn(6, 3), _randn(6, 3, seed=1).detach())),
    ("mse-3d", lambda r: flt.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r),
     lambda: (_randn(2, 3, 4), _randn(2, 3, 4, seed=1).detach())),
    ("l1", lambda r: flt.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r),
     lambda: (_randn(6, 3), _randn(6, 3, seed=1).detach())),
    ("huber", lambda r: flt.HuberLoss(reduction=r, delta=0.7),
     lambda r: torch.nn.HuberLoss(reduction=r, delta=0.7),
     lambda: (_randn(6, 3), _randn(6, 3, seed=1).detach())),
    ("smooth-l1", lambda r: flt.SmoothL1Loss(reduction=r, beta=0.6),
     lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.6),
     lambda: (_randn(6, 3), _randn(6, 3, seed=1).detach())),
    ("smooth-l1-b0", lambda r: flt.SmoothL1Loss(reduction=r, beta=0.0),
     lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0),
     lambda: (_randn(6, 3), _randn(6, 3, seed=1).detach())),
    ("bce", lambda r: flt.BCELoss(reduction=r), lambda r: torch.nn.BCELoss(reduction=r),
     lambda: (_probs(6, 3), _binary(6, 3))),
    ("bce-weight", lambda r: flt.BCELoss(weight=W5[:3], reduction=r),
     lambda r: torch.nn.BCELoss(weight=W5[:3], reduction=r),
     lambda: (_probs(6, 3), _binary(6, 3))),
    ("bce-logits", lambda r: flt.BCEWithLogitsLoss(reduction=r),
     lambda r: torch.nn.BCEWithLogitsLoss(reduction=r),
     lambda: (_randn(6, 3, scale=3), _binary(6, 3))),
    ("bce-logits-weight", lambda r: flt.BCEWithLogitsLoss(weight=W5[:3], reduction=r),
     lambda r: torch.nn.BCEWithLogitsLoss(weight=W5[:3], reduction=r),
     lambda: (_randn(6, 3, scale=3), _binary(6, 3))),
    ("ce", lambda r: flt.CrossEntropyLoss(reduction=r),
     lambda r: torch.nn.CrossEntropyLoss(reduction=r),
     lambda: (_randn(8, 5, scale=2), _labels(8, 5))),
    ("ce-weight-ignore", lambda r: flt.CrossEntropyLoss(weight=W5, ignore_index=-100, reduction=r),
     lambda r: torch.nn.CrossEntropyLoss(weight=W5, ignore_index=-100, reduction=r),
     lambda: (_randn(8, 5, scale=2), _labels(8, 5, ignore=True))),
    ("ce-ignore3-smooth", lambda r: flt.CrossEntropyLoss(ignore_index=3, label_smoothing=0.1,
                                                         reduction=r),
     lambda r: torch.nn.CrossEntropyLoss(ignore_index=3, label_smoothing=0.1, reduction=r),
     lambda: (_randn(8, 5, scale=2), _labels(8, 5))),
    ("ce-4d", lambda r: flt.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
     lambda r: torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
     lambda: (_randn(2, 5, 3, 2, scale=2), _labels(2, 5, extra=(3, 2)))),
    ("ce-unbatched", lambda r: flt.CrossEntropyLoss(reduction=r),
     lambda r: torch.nn.CrossEntropyLoss(reduction=r),
     lambda: (_randn(5, scale=2), torch.tensor(2))),
    ("ce-probs", lambda r: flt.CrossEntropyLoss(reduction=r, label_smoothing=0.1),
     lambda r: torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1),
     lambda: (_randn(8, 5, scale=2), _soft(8, 5))),
    ("ce-probs-3d", lambda r: flt.CrossEntropyLoss(reduction=r),
     lambda r: torch.nn.CrossEntropyLoss(reduction=r),
     lambda: (_randn(2, 5, 3, scale=2), _soft(2, 5, 3))),
    ("kl", lambda r: flt.KLDivLoss(reduction=r), lambda r: torch.nn.KLDivLoss(reduction=r),
     lambda: (torch.log_softmax(_randn(6, 4), 1).detach().requires_grad_(), _soft(6, 4))),
    ("kl-log-target", lambda r: flt.KLDivLoss(reduction=r, log_target=True),
     lambda r: torch.nn.KLDivLoss(reduction=r, log_target=True),
     lambda: (torch.log_softmax(_randn(6, 4), 1).detach().requires_grad_(),
              torch.log(_soft(6, 4)))),
    ("poisson", lambda r: flt.PoissonNLLLoss(reduction=r),
     lambda r: torch.nn.PoissonNLLLoss(reduction=r),
     lambda: (_randn(6, 3, scale=0.7),
              torch.poisson(torch.full((6, 3), 2.0, dtype=torch.float64), generator=_rng(1)))),
    ("poisson-rate-full", lambda r: flt.PoissonNLLLoss(log_input=False, full=True, reduction=r),
     lambda r: torch.nn.PoissonNLLLoss(log_input=False, full=True, reduction=r),
     lambda: (_probs(6, 3) * 3,
              torch.poisson(torch.full((6, 3), 2.0, dtype=torch.float64), generator=_rng(1)))),
    ("cosine-embedding", lambda r: flt.CosineEmbeddingLoss(margin=0.2, reduction=r),
     lambda r: torch.nn.CosineEmbeddingLoss(margin=0.2, reduction=r),
     lambda: (_randn(8, 4), _randn(8, 4, seed=1),
              torch.where(torch.rand(8, generator=_rng(2)) < 0.5, 1.0, -1.0).double())),
    ("triplet", lambda r: flt.TripletMarginLoss(margin=0.5, reduction=r),
     lambda r: torch.nn.TripletMarginLoss(margin=0.5, reduction=r),
     lambda: tuple((a + s * _randn(8, 4, seed=k)).detach().requires_grad_()
                   for a in [_randn(8, 4).detach()] for k, s in ((3, 0), (1, 0.5), (2, 0.7)))),
    ("triplet-p1-swap", lambda r: flt.TripletMarginLoss(p=1.0, swap=True, reduction=r),
     lambda r: torch.nn.TripletMarginLoss(p=1.0, swap=True, reduction=r),
     lambda: tuple((a + s * _randn(8, 4, seed=k)).detach().requires_grad_()
                   for a in [_randn(8, 4).detach()] for k, s in ((3, 0), (1, 0.5), (2, 0.7)))),
]
REDUCTIONS = {"kl": ["mean", "sum", "none", "batchmean"],
              "kl-log-target": ["mean", "sum", "none", "batchmean"]}


def _module_params():
    for mid, ours, theirs, inputs in MODULES:
        for r in REDUCTIONS.get(mid, ["mean", "sum", "none"]):
            yield pytest.param(ours, theirs, inputs, r, id=f"{mid}-{r}")


def _value_and_grads(module, inputs):
    value = module(*inputs)
    diff = [x for x in inputs if x.requires_grad]
    grads = torch.autograd.grad(value, diff, torch.ones_like(value) if value.dim() else None)
    return value.detach(), grads


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")   # KLDivLoss
@pytest.mark.parametrize("ours, theirs, inputs, reduction", list(_module_params()))
def test_module_matches_torch_and_gradcheck(ours, theirs, inputs, reduction):
    xs = inputs()
    mine = ours(reduction)
    value, grads = _value_and_grads(mine, xs)
    ref_value, ref_grads = _value_and_grads(theirs(reduction), xs)
    assert value.shape == ref_value.shape and value.dtype == ref_value.dtype
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *d: mine(*_replace(xs, d)),
                                    tuple(x for x in xs if x.requires_grad))


def _replace(xs, diff):
    it = iter(diff)
    return tuple(next(it) if x.requires_grad else x for x in xs)


@pytest.mark.parametrize("case", C.CASES, ids=C.CASE_IDS)
def test_get_gradcheck_every_loss(case):
    """``get`` for every loss of the case table: gradcheck in float64 for "mean" and "none"
    (per-sample grad_output), with the arrays in PyTorch's order."""
    rng = np.random.default_rng(0)
    y_true, y_pred = case.inputs(rng, C.shape_for(case), np.float64)
    preds = [torch.tensor(p, requires_grad=True) for p in C.preds_of(case, y_pred)]
    target = None if y_true is None else torch.as_tensor(y_true)

    for reduction in ("mean", "none"):
        module = flt.get(case.loss, reduction=reduction, **case.params)

        def f(*ps):
            if case.kind == "triplet":
                return module(*ps)
            return module(*ps, target)
        assert torch.autograd.gradcheck(f, tuple(preds))


def test_get_sample_weight_and_keras_reduction():
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 5, 10), rng.normal(size=(10, 5))
    w = rng.uniform(0.2, 2.0, 10)
    logits = torch.tensor(z, requires_grad=True)
    module = flt.get("scce", from_logits=True, reduction="sum_over_batch_size")
    value = module(logits, torch.tensor(y), sample_weight=torch.tensor(w))
    value.backward()
    ref = torch.nn.functional.cross_entropy(torch.tensor(z, requires_grad=True),
                                            torch.tensor(y), reduction="none")
    torch.testing.assert_close(value.detach(), (ref.detach() * torch.tensor(w)).sum() / 10)
    ref_logits = torch.tensor(z, requires_grad=True)
    ((torch.nn.functional.cross_entropy(ref_logits, torch.tensor(y), reduction="none")
      * torch.tensor(w)).sum() / 10).backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad)


def test_gradient_flows_into_earlier_layers_and_dtypes():
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    flt.CrossEntropyLoss()(layer(x), y).backward()
    ours = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    torch.nn.CrossEntropyLoss()(layer(x), y).backward()
    for g, rg in zip(ours, [p.grad for p in layer.parameters()]):
        torch.testing.assert_close(g, rg, rtol=1e-5, atol=1e-6)

    # float16 / bfloat16 computed in float32, the gradient back in the input's dtype
    for dtype in (torch.float16, torch.bfloat16):
        z = torch.randn(16, 3).to(dtype).requires_grad_()
        value = flt.CrossEntropyLoss()(z, y)
        value.backward()
        assert value.dtype == dtype and z.grad.dtype == dtype
        z32 = z.detach().float().requires_grad_()
        torch.nn.functional.cross_entropy(z32, y).backward()
        torch.testing.assert_close(z.grad.float(), z32.grad, rtol=2e-2, atol=2e-3)

    # non-contiguous input: copied once, same answer
    z = torch.randn(3, 16, dtype=torch.float64).requires_grad_()
    flt.MSELoss()(z.T, torch.zeros(16, 3, dtype=torch.float64)).backward()
    torch.testing.assert_close(z.grad, 2 * z.detach() / z.numel())

    # retain_graph: the saved gradient survives a second backward
    z = torch.randn(16, 3, requires_grad=True)
    value = flt.CrossEntropyLoss()(z, y)
    value.backward(retain_graph=True)
    first = z.grad.clone()
    value.backward()
    torch.testing.assert_close(z.grad, 2 * first)

    # no_grad: the value only
    with torch.no_grad():
        v = flt.MSELoss()(torch.ones(4), torch.zeros(4))
    assert v.item() == 1.0 and not v.requires_grad


def test_bad_input_names_the_argument():
    y = torch.randint(0, 3, (4,))
    with pytest.raises(ValueError, match="input is on meta"):
        flt.CrossEntropyLoss()(torch.empty(4, 3, device="meta"), y)
    with pytest.raises(TypeError, match="input has dtype torch.int64"):
        flt.MSELoss()(torch.ones(4, dtype=torch.int64), torch.ones(4))
    with pytest.raises(TypeError, match="input has dtype torch.complex64"):
        flt.MSELoss()(torch.ones(4, dtype=torch.complex64), torch.ones(4))
    with pytest.raises(ValueError, match="target requires grad"):
        flt.MSELoss()(torch.ones(4, requires_grad=True), torch.ones(4, requires_grad=True))
    with pytest.raises(ValueError, match="target has shape"):
        flt.MSELoss()(torch.ones(4), torch.ones(4, 1))
    with pytest.raises(ValueError, match="pos_weight"):
        flt.BCEWithLogitsLoss(pos_weight=torch.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        flt.CrossEntropyLoss(weight=torch.ones(3), label_smoothing=0.1)(torch.randn(4, 3), y)
    with pytest.raises(ValueError, match="weight with probability targets"):
        flt.CrossEntropyLoss(weight=torch.ones(3))(torch.randn(4, 3),
                                                   torch.softmax(torch.randn(4, 3), 1))
    with pytest.raises(ValueError, match="reduction"):
        flt.MSELoss(reduction="batchmean")
    with pytest.raises(ValueError, match="y_pred"):      # fastloss's own validation
        flt.BCELoss()(torch.full((4,), 2.0), torch.ones(4))
    with pytest.raises(ValueError, match="unknown loss"):
        flt.get("no_such_loss")


def test_kernel_reads_the_tensors_memory(monkeypatch):
    """Zero-copy: the kernel gets NumPy views of the (contiguous, CPU) tensors."""
    seen = []

    class Spy:
        def __init__(self, loss):
            self.loss = loss

        def value_and_grad(self, *arrays, **kwargs):
            seen.extend(arrays)
            return self.loss.value_and_grad(*arrays, **kwargs)

    module = flt.get("mse")
    monkeypatch.setitem(flt._LOSSES, module._key, Spy(flt._LOSSES[module._key]))
    z, t = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3)
    module(z, t).backward()
    assert np.shares_memory(seen[1], z.detach().numpy())
    assert np.shares_memory(seen[0], t.numpy())


def test_import_fastloss_imports_no_framework():
    code = ("import sys, fastloss; "
            "assert not {'torch', 'jax', 'keras'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- training: the same parameters as with torch's own loss ----------------------------------

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)


def _train(loss_fn, X, target, steps=100, lr=0.5):
    # One OpenMP thread for torch and fastloss alike: on a shared two-core runner their two
    # OpenMP runtimes' thread teams stall each other (fastloss's results are bitwise the
    # same for every thread count, so this changes no number).
    with threadpool_limits(limits=1, user_api="openmp"):
        return _train_steps(loss_fn, X, target, steps, lr)


def _train_steps(loss_fn, X, target, steps, lr):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), target)
        loss.backward()
        opt.step()
    return [p.detach() for p in model.parameters()], loss.item()


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss"])
def test_training_on_digits_ends_at_torchs_parameters(digits, name):
    X, y = digits
    target = y if name == "CrossEntropyLoss" else torch.nn.functional.one_hot(y, 10).float()
    ours, our_loss = _train(getattr(flt, name)(), X, target)
    theirs, their_loss = _train(getattr(torch.nn, name)(), X, target)
    assert abs(our_loss - their_loss) < 1e-5
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)
    first, _ = _train(getattr(torch.nn, name)(), X, target, steps=1)
    assert max((p - q).abs().max().item() for p, q in zip(ours, first)) > 1e-2   # it trained


def test_custom_op_passes_opcheck():
    """The op torch.compile traces (schema, fake implementation, registered autograd)."""
    from fastloss.torch import _key
    import fastloss as fl
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (6,))
    for reduction in ("mean", "none"):
        for loss, target, preds in (
                (fl.get("CrossEntropyLoss", label_smoothing=0.1), y, [z]),
                (fl.get("triplet"), None, [torch.randn(6, 3, dtype=torch.float64,
                                                       requires_grad=True) for _ in range(3)])):
            torch.library.opcheck(torch.ops.fastloss.value_and_grad.default,
                                  (_key(loss), reduction, target, preds, None, True))


def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    criterion = flt.CrossEntropyLoss(label_smoothing=0.1)
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))

    def forward(x, y):
        return criterion(model(x), y)

    eager = forward(x, y)
    eager.backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    # fullgraph: no graph break around the op; aot_eager traces forward and backward
    # through the fake implementation and the registered autograd formula as inductor
    # does, without its C++ code generation (half a minute on two cores)
    value = torch.compile(forward, fullgraph=True, backend="aot_eager")(x, y)
    value.backward()
    torch.testing.assert_close(value.detach(), eager.detach())
    for p, g in zip(model.parameters(), eager_grads):
        torch.testing.assert_close(p.grad, g)
