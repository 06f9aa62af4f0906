"""fastloss.gbdt: custom objectives and metrics for XGBoost and LightGBM.

- Where the library has the objective built in, the fastloss objective trains the same model:
  20 rounds on scikit-learn's bundled breast-cancer (binary), diabetes (regression) and digits
  (10 classes) data, raw predictions equal to 1e-5.
- For losses the libraries lack (binary and categorical focal, Huber with delta, log-cosh), a
  model beats the best constant prediction on held-out data, and the objective's (grad, hess)
  are finite differences of fastloss's own loss value.
- Bad input gets a clear error.

Both libraries are in the ``test`` extra: these tests must not skip in CI.
"""
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

import fastloss as fl
from fastloss.gbdt import lightgbm_metric, lightgbm_objective, xgboost_metric, xgboost_objective

ROUNDS = 20
XGB_PARAMS = {"max_depth": 3, "eta": 0.3, "tree_method": "hist", "nthread": 1}
LGB_PARAMS = {"num_leaves": 7, "learning_rate": 0.3, "verbose": -1, "num_threads": 1,
              "deterministic": True, "force_row_wise": True, "boost_from_average": False}


@pytest.fixture(scope="session")
def datasets():
    cancer = load_breast_cancer()
    diabetes = load_diabetes()
    digits = load_digits()
    # diabetes' target in standard units, so that 1e-5 is a tolerance on the model, not on
    # float32 rounding of values in the hundreds
    target = (diabetes.target - diabetes.target.mean()) / diabetes.target.std()
    return {"breast_cancer": (cancer.data, cancer.target.astype(np.float64)),
            "diabetes": (diabetes.data, target),
            "digits": (digits.data, digits.target.astype(np.float64))}


def _split(X, y, seed=0):
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.7 * len(y))
    return (X[idx[:cut]], y[idx[:cut]]), (X[idx[cut:]], y[idx[cut:]])


# ---- the same model as the built-in objective ------------------------------------------------

XGB_EQUIVALENT = [
    ("breast_cancer", "binary:logistic", "binary_cross_entropy", {}),
    ("diabetes", "reg:squarederror", "mse", {}),
    ("digits", "multi:softprob", "softmax", {"num_class": 10}),
    ("diabetes", "reg:pseudohubererror", "pseudo_huber", {}),
]


@pytest.mark.parametrize("dataset, builtin, name, extra", XGB_EQUIVALENT,
                         ids=[c[1] for c in XGB_EQUIVALENT])
def test_xgboost_objective_trains_the_builtin_model(datasets, dataset, builtin, name, extra):
    X, y = datasets[dataset]
    k = extra.get("num_class")
    margin = np.zeros((len(y), k) if k else len(y))      # the same start for both
    dtrain = xgb.DMatrix(X, y, base_margin=margin)
    params = {**XGB_PARAMS, **extra}
    reference = xgb.train({**params, "objective": builtin}, dtrain, ROUNDS)
    model = xgb.train(params, dtrain, ROUNDS, obj=xgboost_objective(name))
    expected = reference.predict(dtrain, output_margin=True)
    got = model.predict(dtrain, output_margin=True)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


LGB_EQUIVALENT = [
    ("breast_cancer", "binary", "binary_cross_entropy", {}),
    ("diabetes", "regression", "mse", {}),
    ("digits", "multiclass", "softmax", {"num_class": 10}),
]


@pytest.mark.parametrize("dataset, builtin, name, extra", LGB_EQUIVALENT,
                         ids=[c[1] for c in LGB_EQUIVALENT])
def test_lightgbm_objective_trains_the_builtin_model(datasets, dataset, builtin, name, extra):
    X, y = datasets[dataset]
    params = {**LGB_PARAMS, **extra}
    reference = lgb.train({**params, "objective": builtin}, lgb.Dataset(X, y), ROUNDS)
    model = lgb.train({**params, "objective": lightgbm_objective(name)}, lgb.Dataset(X, y),
                      ROUNDS)
    expected = reference.predict(X, raw_score=True)
    got = model.predict(X, raw_score=True)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_weights_are_read_from_the_dataset(datasets):
    """Sample weights of the dataset weight the gradients as in the built-in objective."""
    X, y = datasets["breast_cancer"]
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    dtrain = xgb.DMatrix(X, y, weight=w, base_margin=np.zeros(len(y)))
    reference = xgb.train({**XGB_PARAMS, "objective": "binary:logistic"}, dtrain, ROUNDS)
    model = xgb.train(XGB_PARAMS, dtrain, ROUNDS, obj=xgboost_objective("bce"))
    np.testing.assert_allclose(model.predict(dtrain, output_margin=True),
                               reference.predict(dtrain, output_margin=True),
                               rtol=1e-5, atol=1e-5)
    reference = lgb.train({**LGB_PARAMS, "objective": "binary"}, lgb.Dataset(X, y, weight=w),
                          ROUNDS)
    model = lgb.train({**LGB_PARAMS, "objective": lightgbm_objective("bce")},
                      lgb.Dataset(X, y, weight=w), ROUNDS)
    np.testing.assert_allclose(model.predict(X, raw_score=True),
                               reference.predict(X, raw_score=True), rtol=1e-5, atol=1e-5)


def test_scikit_learn_wrappers(datasets):
    """The same callables plug into XGBRegressor / LGBMClassifier(objective=...)."""
    X, y = datasets["diabetes"]
    reference = xgb.XGBRegressor(objective="reg:squarederror", base_score=0.0,
                                 n_estimators=ROUNDS, **_sk(XGB_PARAMS)).fit(X, y)
    model = xgb.XGBRegressor(objective=xgboost_objective("mse"), base_score=0.0,
                             n_estimators=ROUNDS, **_sk(XGB_PARAMS)).fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-5, atol=1e-5)

    X, y = datasets["digits"]
    params = dict(n_estimators=ROUNDS, num_leaves=7, learning_rate=0.3, verbose=-1,
                  n_jobs=1, deterministic=True, force_row_wise=True, boost_from_average=False)
    reference = lgb.LGBMClassifier(objective="multiclass", **params).fit(X, y)
    model = lgb.LGBMClassifier(objective=lightgbm_objective("softmax"), **params).fit(X, y)
    np.testing.assert_allclose(model.predict(X, raw_score=True),
                               reference.predict(X, raw_score=True), rtol=1e-5, atol=1e-5)


def _sk(params):
    return {"max_depth": params["max_depth"], "learning_rate": params["eta"],
            "tree_method": params["tree_method"], "n_jobs": params["nthread"]}


# ---- losses the libraries lack ---------------------------------------------------------------

NEW_OBJECTIVES = [
    ("breast_cancer", "binary_focal", {"gamma": 2.0}),
    ("breast_cancer", "binary_focal", {"gamma": 0.5, "alpha": 0.25}),
    ("diabetes", "huber", {"delta": 0.5}),
    ("diabetes", "log_cosh", {}),
]


def _best_constant(loss, y):
    """The constant prediction with the lowest training loss (on a fine grid)."""
    grid = np.linspace(-6.0, 6.0, 1201)
    values = [loss(y, np.full_like(y, c)) for c in grid]
    return grid[int(np.argmin(values))]


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("dataset, name, params", NEW_OBJECTIVES,
                         ids=[f"{c[1]}-{c[2]}" for c in NEW_OBJECTIVES])
def test_new_objectives_beat_a_constant(datasets, library, dataset, name, params):
    (Xtr, ytr), (Xte, yte) = _split(*datasets[dataset])
    loss = fl.get(name, **params, **({"from_logits": True} if "focal" in name else {}))
    if library == "xgboost":
        dtrain = xgb.DMatrix(Xtr, ytr, base_margin=np.zeros(len(ytr)))
        model = xgb.train(XGB_PARAMS, dtrain, ROUNDS, obj=xgboost_objective(name, **params))
        pred = model.predict(xgb.DMatrix(Xte, base_margin=np.zeros(len(yte))),
                             output_margin=True)
    else:
        model = lgb.train({**LGB_PARAMS, "objective": lightgbm_objective(name, **params)},
                          lgb.Dataset(Xtr, ytr), ROUNDS)
        pred = model.predict(Xte, raw_score=True)
    constant = _best_constant(loss, ytr)
    model_loss = loss(yte, pred.astype(np.float64))
    constant_loss = loss(yte, np.full_like(yte, constant))
    assert model_loss < 0.85 * constant_loss, (model_loss, constant_loss)


@pytest.mark.parametrize("make", [xgboost_objective, lightgbm_objective])
@pytest.mark.parametrize("dataset, name, params", NEW_OBJECTIVES,
                         ids=[f"{c[1]}-{c[2]}" for c in NEW_OBJECTIVES])
def test_objective_is_the_derivative_of_the_loss(datasets, make, dataset, name, params):
    """grad and hess of the objective are central differences of fastloss's own (summed,
    weighted) value, in float64."""
    _, y = datasets[dataset]
    rng = np.random.default_rng(2)
    y = y[:12]
    w = rng.uniform(0.5, 2.0, len(y))
    margin = rng.normal(scale=2.0, size=len(y))
    loss = fl.get(name, **params, **({"from_logits": True} if "focal" in name else {}))
    grad, hess = make(name, min_hessian=0.0, **params)(y, margin, w)
    grad, hess = grad.copy(), hess.copy()

    def total(m):
        return loss(y, m, reduction="sum", sample_weight=w)

    h = 1e-4
    for i in range(len(y)):
        up, down = margin.copy(), margin.copy()
        up[i] += h
        down[i] -= h
        fd_grad = (total(up) - total(down)) / (2 * h)
        fd_hess = (total(up) - 2 * total(margin) + total(down)) / h**2
        assert grad[i] == pytest.approx(fd_grad, rel=1e-6, abs=1e-7)
        assert hess[i] == pytest.approx(fd_hess, rel=1e-4, abs=1e-5)


# ---- metrics --------------------------------------------------------------------------------

def test_metrics_report_the_loss_value(datasets):
    (Xtr, ytr), (Xte, yte) = _split(*datasets["diabetes"])
    loss = fl.get("huber", delta=0.5)
    dtrain = xgb.DMatrix(Xtr, ytr, base_margin=np.zeros(len(ytr)))
    dvalid = xgb.DMatrix(Xte, yte, base_margin=np.zeros(len(yte)))
    history = {}
    model = xgb.train({**XGB_PARAMS, "disable_default_eval_metric": 1}, dtrain, 5,
                      obj=xgboost_objective("huber", delta=0.5),
                      custom_metric=xgboost_metric("huber", delta=0.5),
                      evals=[(dvalid, "valid")], evals_result=history, verbose_eval=False)
    recorded = history["valid"]["fastloss-huber"][-1]
    pred = model.predict(dvalid, output_margin=True)
    assert recorded == pytest.approx(loss(yte, pred.astype(np.float64)), rel=1e-5)

    history = {}
    model = lgb.train({**LGB_PARAMS, "objective": lightgbm_objective("huber", delta=0.5),
                       "metric": "None"},
                      lgb.Dataset(Xtr, ytr), 5, valid_sets=[lgb.Dataset(Xte, yte)],
                      valid_names=["valid"], feval=lightgbm_metric("huber", delta=0.5),
                      callbacks=[lgb.record_evaluation(history)])
    recorded = history["valid"]["fastloss-huber"][-1]
    # (LightGBM accumulates the validation scores in its own order: equal to rounding)
    assert recorded == pytest.approx(loss(yte, model.predict(Xte, raw_score=True)), rel=1e-7)


# ---- bad input ------------------------------------------------------------------------------

def test_multiclass_objective_on_a_binary_booster(datasets):
    X, y = datasets["breast_cancer"]
    with pytest.raises(ValueError, match="multiclass objective.*num_class"):
        xgb.train(XGB_PARAMS, xgb.DMatrix(X, y), 2, obj=xgboost_objective("softmax"))
    with pytest.raises(ValueError, match="multiclass objective.*num_class"):
        lgb.train({**LGB_PARAMS, "objective": lightgbm_objective("softmax")},
                  lgb.Dataset(X, y), 2)


def test_label_outside_the_classes(datasets):
    X, y = datasets["digits"]
    y = y.copy()
    y[5] = 10
    with pytest.raises(ValueError, match=r"label\[5\] = 10.* \[0, 10\)"):
        xgb.train({**XGB_PARAMS, "num_class": 10}, xgb.DMatrix(X, y), 2,
                  obj=xgboost_objective("softmax"))
    y[5] = 2.5
    with pytest.raises(ValueError, match=r"label\[5\] = 2.5"):
        lightgbm_objective("softmax")(y, np.zeros((len(y), 10)))


@pytest.mark.parametrize("make", [xgboost_objective, lightgbm_objective])
def test_shapes_the_library_does_not_produce(make):
    y = np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*one margin per sample"):
        make("binary_cross_entropy")(y, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"shape \(4,\) for 3 labels"):
        make("mse")(y, np.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(3, 1, 2\)"):
        make("softmax")(y, np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="weight"):
        make("mse")(y, np.zeros(3), np.array([1.0, -1.0, 1.0]))


def test_bad_objective_arguments():
    with pytest.raises(ValueError, match="from_logits=False"):
        xgboost_objective("binary_cross_entropy", from_logits=False)
    assert xgboost_objective("binary_focal", from_logits=True).loss.params["from_logits"]
    with pytest.raises(ValueError, match="unknown|no loss"):
        lightgbm_objective("no_such_loss")
    with pytest.raises(ValueError, match="kl_divergence is a categorical loss"):
        lightgbm_objective("kl_divergence")
    with pytest.raises(ValueError, match="delta"):
        xgboost_objective("huber", delta=-1.0)
    with pytest.raises(ValueError, match="min_hessian"):
        xgboost_objective("mse", min_hessian=-1.0)
    with pytest.raises(NotImplementedError, match="dice"):
        xgboost_objective("dice")


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_categorical_focal_objective_beats_the_class_prior(datasets, library, gamma):
    """Categorical focal loss (no library has it) as a multiclass objective on digits: the
    held-out loss is well below that of the best constant (the class-prior logits), and the
    model classifies."""
    (Xtr, ytr), (Xte, yte) = _split(*datasets["digits"])
    loss = fl.get("categorical_focal", from_logits=True, gamma=gamma)
    if library == "xgboost":
        dtrain = xgb.DMatrix(Xtr, ytr, base_margin=np.zeros((len(ytr), 10)))
        model = xgb.train({**XGB_PARAMS, "num_class": 10}, dtrain, ROUNDS,
                          obj=xgboost_objective("categorical_focal", gamma=gamma))
        pred = model.predict(xgb.DMatrix(Xte, base_margin=np.zeros((len(yte), 10))),
                             output_margin=True)
    else:
        objective = lightgbm_objective("categorical_focal", gamma=gamma)
        model = lgb.train({**LGB_PARAMS, "num_class": 10, "objective": objective},
                          lgb.Dataset(Xtr, ytr), ROUNDS)
        pred = model.predict(Xte, raw_score=True)
    onehot = np.eye(10)[yte.astype(int)]
    prior = np.log(np.bincount(ytr.astype(int), minlength=10) / len(ytr))
    model_loss = loss(onehot, pred.astype(np.float64))
    constant_loss = loss(onehot, np.tile(prior, (len(yte), 1)))
    assert model_loss < 0.3 * constant_loss, (model_loss, constant_loss)
    assert np.mean(pred.argmax(axis=1) == yte) > 0.85


@pytest.mark.parametrize("make", [xgboost_objective, lightgbm_objective])
@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_categorical_focal_objective_is_the_derivative_of_the_loss(make, gamma):
    """grad is the central difference of the summed, weighted loss in each margin; hess its
    second central difference (the diagonal), times the library's multiclass factor."""
    rng = np.random.default_rng(5)
    n, k = 6, 4
    y = rng.integers(0, k, n).astype(np.float64)
    w = rng.uniform(0.5, 2.0, n)
    margin = rng.normal(scale=2.0, size=(n, k))
    loss = fl.get("categorical_focal", from_logits=True, gamma=gamma)
    onehot = np.eye(k)[y.astype(int)]
    grad, hess = make("categorical_focal", min_hessian=0.0, gamma=gamma)(y, margin, w)
    factor = 2.0 if make is xgboost_objective else k / (k - 1.0)

    def total(m):
        return loss(onehot, m, reduction="sum", sample_weight=w)

    h = 1e-4
    for i in range(n):
        for j in range(k):
            up, down = margin.copy(), margin.copy()
            up[i, j] += h
            down[i, j] -= h
            fd_grad = (total(up) - total(down)) / (2 * h)
            fd_hess = (total(up) - 2 * total(margin) + total(down)) / h**2
            assert grad[i, j] == pytest.approx(fd_grad, rel=1e-6, abs=1e-7)
            assert hess[i, j] == pytest.approx(factor * fd_hess, rel=1e-4, abs=1e-5)


# ---- nothing allocated per round -------------------------------------------------------------

@pytest.mark.parametrize("name, k", [("binary_focal", 1), ("softmax", 10),
                                     ("categorical_focal", 10)])
def test_rounds_after_the_first_allocate_no_arrays(name, k):
    """Buffers are reused and the dataset's labels converted once: a round allocates nothing
    of the data's size (XGBoost's float32 margins; LightGBM's column-major float64 ones)."""
    import tracemalloc
    n = 50_000
    rng = np.random.default_rng(3)
    y = rng.integers(0, max(k, 2), size=n).astype(np.float32)
    dtrain = xgb.DMatrix(np.zeros((n, 1), np.float32), y)
    dset = lgb.Dataset(np.zeros((n, 1)), y, params={"verbose": -1}).construct()
    shape = (n, k) if k > 1 else (n,)
    cases = [(xgboost_objective(name), rng.normal(size=shape).astype(np.float32), dtrain),
             (lightgbm_objective(name), np.asfortranarray(rng.normal(size=shape)), dset)]
    with fl.use_backend("cython"):
        for objective, margin, data in cases:
            objective(margin, data)                      # the first round allocates
            tracemalloc.start()
            for _ in range(3):
                objective(margin, data)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert peak < 64 * 1024, (type(objective).__name__, peak)


@pytest.mark.parametrize("name, k", [("binary_focal", 1), ("log_cosh", 1), ("softmax", 4),
                                     ("categorical_focal", 4)])
def test_numpy_backend_gives_the_same_objective(name, k):
    """Without the compiled kernels the objective runs through the NumPy twin: same numbers."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, max(k, 2), size=200).astype(np.float64)
    margin = rng.normal(size=(200, k) if k > 1 else 200)
    w = rng.uniform(0.5, 2.0, 200)
    results = {}
    for backend in ("cython", "numpy"):
        with fl.use_backend(backend):
            grad, hess = lightgbm_objective(name)(y, margin, w)
            results[backend] = grad.copy(), hess.copy()
    for a, b in zip(results["cython"], results["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
