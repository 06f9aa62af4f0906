"""fastloss.jax: the fused kernel inside jit, grad and vmap.

Values and gradients equal optax's losses (for the losses optax has), every loss of the
shared case table gives fastloss's own value and gradient through jit(value_and_grad), and
an optax training loop on the digits ends at the parameters of optax's own loss.  JAX and
optax are in the ``test`` extra: this module is never skipped.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import fastloss as fl
import fastloss.jax as flj

import cases as C

jax.config.update("jax_enable_x64", True)   # as tests/test_aliases.py: float64 is tested too


def _onehot_soft(rng, n, k):
    t = np.exp(rng.normal(size=(n, k)))
    return t / t.sum(-1, keepdims=True)


# (fastloss name, params, optax per-sample function of (y_true, y_pred), inputs(rng, dtype))
OPTAX = [
    ("mse", {}, lambda t, p: optax.losses.squared_error(p, t),
     lambda rng, dt: (rng.normal(size=12).astype(dt), rng.normal(size=12).astype(dt))),
    ("huber", {"delta": 0.8}, lambda t, p: optax.losses.huber_loss(p, t, delta=0.8),
     lambda rng, dt: (rng.normal(size=12).astype(dt), rng.normal(size=12).astype(dt))),
    ("log_cosh", {}, lambda t, p: optax.losses.log_cosh(p, t),
     lambda rng, dt: (rng.normal(size=12).astype(dt), rng.normal(size=12).astype(dt))),
    ("sigmoid_binary_cross_entropy", {},
     lambda t, z: optax.losses.sigmoid_binary_cross_entropy(z, t),
     lambda rng, dt: ((rng.random(12) < 0.5).astype(dt), (3 * rng.normal(size=12)).astype(dt))),
    ("sigmoid_focal_loss", {"alpha": 0.25, "gamma": 2.0},
     lambda t, z: optax.losses.sigmoid_focal_loss(z, t, alpha=0.25, gamma=2.0),
     lambda rng, dt: ((rng.random(12) < 0.5).astype(dt), (2 * rng.normal(size=12)).astype(dt))),
    ("softmax_cross_entropy", {}, lambda t, z: optax.losses.softmax_cross_entropy(z, t),
     lambda rng, dt: (_onehot_soft(rng, 8, 5).astype(dt), (2 * rng.normal(size=(8, 5))).astype(dt))),
    ("softmax_cross_entropy_with_integer_labels", {},
     lambda y, z: optax.losses.softmax_cross_entropy_with_integer_labels(z, y),
     lambda rng, dt: (rng.integers(0, 5, 8), (2 * rng.normal(size=(8, 5))).astype(dt))),
    ("hinge", {}, lambda t, p: optax.losses.hinge_loss(p, t),
     lambda rng, dt: (np.where(rng.random(12) < 0.5, 1.0, -1.0).astype(dt),
                      (1.5 * rng.normal(size=12)).astype(dt))),
    ("KLDivLoss", {}, lambda t, lp: optax.losses.kl_divergence(lp, t),
     lambda rng, dt: (_onehot_soft(rng, 8, 5).astype(dt),
                      np.log(_onehot_soft(rng, 8, 5)).astype(dt))),
    ("kl_divergence_with_log_targets", {},
     lambda lt, lp: optax.losses.kl_divergence_with_log_targets(lp, lt),
     lambda rng, dt: (np.log(_onehot_soft(rng, 8, 5)).astype(dt),
                      np.log(_onehot_soft(rng, 8, 5)).astype(dt))),
]


def _checks(per_sample, mean, y, w):
    """Value and gradient of the summed per-sample losses, of the mean, and the gradient of
    the per-sample losses weighted by w (a non-uniform cotangent): one jit per side."""
    def f(q):
        v1, g1 = jax.value_and_grad(lambda q: jnp.sum(per_sample(y, q)))(q)
        v2, g2 = jax.value_and_grad(lambda q: mean(y, q))(q)
        g3 = jax.grad(lambda q: jnp.sum(w * per_sample(y, q)))(q)
        return v1, g1, v2, g2, g3
    return jax.jit(f)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params, reference, inputs", OPTAX, ids=[o[0] for o in OPTAX])
def test_values_and_gradients_equal_optax(name, params, reference, inputs, dtype):
    y, p = inputs(np.random.default_rng(0), dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    w = np.linspace(0.5, 2.0, p.shape[0]).astype(dtype)
    ours = _checks(flj.get(name, reduction="none", **params), flj.get(name, **params), y, w)(p)
    theirs = _checks(reference, lambda t, q: jnp.mean(reference(t, q)), y, w)(p)
    assert ours[0].dtype == dtype and ours[1].dtype == dtype
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("case", C.CASES, ids=C.CASE_IDS)
def test_every_loss_gives_fastloss_value_and_gradients_under_jit(case):
    y_true, y_pred = case.inputs(np.random.default_rng(0), C.shape_for(case), np.float64)
    preds = C.preds_of(case, y_pred)
    args = C.call_args(case, y_true, preds)
    n_fixed = len(args) - len(preds)
    loss = fl.get(case.loss, **case.params)
    ref_value, ref_grads = loss.value_and_grad(*args)
    ref_grads = C.grads_of(case, ref_grads)
    fn = flj.get(case.loss, **case.params)
    value, grads = jax.jit(jax.value_and_grad(
        lambda *ps: fn(*args[:n_fixed], *ps), argnums=tuple(range(len(preds)))))(*preds)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for g, rg in zip(grads, ref_grads):
        np.testing.assert_allclose(g, rg, rtol=1e-12, atol=1e-15)


def test_vmap_is_a_loop_of_batches_and_sample_weight_is_constant():
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 5, (3, 8)), rng.normal(size=(3, 8, 5)).astype(np.float32)
    fn = flj.get("softmax_cross_entropy_with_integer_labels")
    values, grads = jax.vmap(jax.value_and_grad(lambda q, t: fn(t, q)))(z, y)
    for i in range(3):
        v, g = fl.get("softmax_cross_entropy_with_integer_labels").value_and_grad(y[i], z[i])
        np.testing.assert_allclose(values[i], v, rtol=1e-6)
        np.testing.assert_allclose(grads[i], g, rtol=1e-6)

    w = rng.uniform(0.5, 2.0, 8)
    fn = flj.get("scce", from_logits=True, reduction="sum_over_batch_size")
    value, (gz, gw) = jax.value_and_grad(lambda q, w: fn(y[0], q, sample_weight=w),
                                         argnums=(0, 1))(z[0], w)
    v, g = fl.get("scce").value_and_grad(y[0], z[0], from_logits=True, sample_weight=w,
                                         reduction="sum_over_batch_size")
    np.testing.assert_allclose(value, v, rtol=1e-6)
    np.testing.assert_allclose(gz, g, rtol=1e-6)
    assert not np.any(gw)            # the weights are constants (documented)


def test_bad_input():
    with pytest.raises(TypeError, match="y_pred has dtype int"):
        flj.get("mse")(np.ones(3), np.ones(3, dtype=np.int32))
    with pytest.raises(ValueError, match="reduction"):
        flj.get("mse", reduction="batchmean")
    with pytest.raises(TypeError, match="takes 3 arrays"):
        flj.get("triplet")(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(Exception, match="y_pred"):      # fastloss's validation, from the host
        flj.get("mse")(np.ones(3), np.ones(4))


def test_optax_training_on_digits_ends_at_optaxs_parameters():
    X, y = load_digits(return_X_y=True)
    X = jnp.asarray(X / 16.0, dtype=jnp.float32)
    y = jnp.asarray(y)
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params0 = {"w1": 0.1 * jax.random.normal(k1, (64, 32), jnp.float32),
               "b1": jnp.zeros(32, jnp.float32),
               "w2": 0.1 * jax.random.normal(k2, (32, 10), jnp.float32),
               "b2": jnp.zeros(10, jnp.float32)}
    # n_threads=1: the kernel runs on an XLA thread; one thread keeps a shared two-core
    # runner from stalling (fastloss's results are bitwise the same for any thread count)
    ours = flj.get("softmax_cross_entropy_with_integer_labels", n_threads=1)

    def logits(params):
        return jnp.tanh(X @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]

    def train(loss_fn):
        opt = optax.sgd(0.5)
        params, state = params0, opt.init(params0)

        @jax.jit
        def step(params, state):
            loss, grads = jax.value_and_grad(lambda p: loss_fn(logits(p)))(params)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

        for _ in range(100):
            params, state, loss = step(params, state)
        return params, loss

    p_ours, loss_ours = train(lambda z: ours(y, z))
    p_ref, loss_ref = train(
        lambda z: optax.losses.softmax_cross_entropy_with_integer_labels(z, y).mean())
    assert float(loss_ours) < 0.5 * float(
        optax.losses.softmax_cross_entropy_with_integer_labels(logits(params0), y).mean())
    np.testing.assert_allclose(loss_ours, loss_ref, atol=1e-5)
    for key in params0:
        np.testing.assert_allclose(p_ours[key], p_ref[key], rtol=0, atol=1e-5)
