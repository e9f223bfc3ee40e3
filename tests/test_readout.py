"""Tests of brainlz.readout: LZC features, the threshold baseline and the evaluation protocol."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainlz.errors import DataError, ParameterError
from brainlz.lzc import lzc
from brainlz.metrics import accuracy_ci
from brainlz.readout import LZCFeatures, LZCThresholdClassifier, default_pipeline, evaluate


def random_rasters(n_samples, n_neurons, n_bins, seed=0):
    """Bernoulli rasters with a different rate per sample and neuron (so complexities differ)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.02, 0.5, size=(n_samples, n_neurons, 1))
    return rng.random((n_samples, n_neurons, n_bins)) < rates


def wilson_all_correct(n, confidence=0.95):
    """Closed form of the Wilson interval for n correct out of n: [n / (n + z^2), 1]."""
    z = stats.norm.isf((1 - confidence) / 2)
    return n / (n + z * z), 1.0


# ------------------------------------------------------------------------------------------------------
# LZCFeatures


@pytest.mark.parametrize("params", [{}, {"normalize": False}, {"alpha": 3}])
def test_lzc_features_equal_per_neuron_loop(params):
    X = random_rasters(5, 4, 150, seed=1)
    out = LZCFeatures(**params).fit(X).transform(X)
    expected = np.empty((5, 4))
    for i in range(5):
        for j in range(4):
            expected[i, j] = lzc(X[i, j], **params)
    assert out.shape == (5, 4)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    assert len(np.unique(out)) > 5  # the rasters really differ


def test_lzc_features_known_sequences():
    # 0001101001000101 has C = 6 (Kaspar & Schuster), 0000000000000000 has C = 2
    a = np.array([int(c) for c in "0001101001000101"], dtype=bool)
    X = np.stack([a, np.zeros(16, dtype=bool)])[None]  # [1, 2, 16]
    out = LZCFeatures(normalize=False).fit_transform(X)
    np.testing.assert_array_equal(out, [[6.0, 2.0]])
    out = LZCFeatures().fit_transform(X)
    np.testing.assert_allclose(out, [[6 * 4 / 16, 2 * 4 / 16]])


def test_include_counts_columns_are_raster_sums():
    X = random_rasters(6, 3, 120, seed=2)
    out = LZCFeatures(include_counts=True).fit_transform(X)
    assert out.shape == (6, 6)
    np.testing.assert_array_equal(out[:, :3], LZCFeatures().fit_transform(X))
    np.testing.assert_array_equal(out[:, 3:], X.sum(axis=2))


def test_integer_and_float_01_rasters_accepted():
    X = random_rasters(3, 2, 64, seed=3)
    ref = LZCFeatures().fit_transform(X)
    np.testing.assert_array_equal(LZCFeatures().fit_transform(X.astype(np.int8)), ref)
    np.testing.assert_array_equal(LZCFeatures().fit_transform(X.astype(float)), ref)


def test_fit_records_shape_and_feature_names():
    X = random_rasters(3, 2, 64)
    f = LZCFeatures(include_counts=True).fit(X)
    assert (f.n_neurons_, f.n_bins_) == (2, 64)
    assert list(f.get_feature_names_out()) == ["lzc_neuron0", "lzc_neuron1", "count_neuron0", "count_neuron1"]
    assert list(f.get_feature_names_out(["a", "b"])) == ["lzc_a", "lzc_b", "count_a", "count_b"]
    assert list(LZCFeatures().fit(X).get_feature_names_out()) == ["lzc_neuron0", "lzc_neuron1"]
    with pytest.raises(ParameterError, match="input_features"):
        f.get_feature_names_out(["a"])


@pytest.mark.parametrize(
    "bad,shape_text",
    [
        (np.zeros((4, 10), dtype=bool), "(4, 10)"),
        (np.zeros((2, 3, 4, 5), dtype=bool), "(2, 3, 4, 5)"),
        (np.zeros((0, 3, 10), dtype=bool), "(0, 3, 10)"),
        (np.zeros((2, 3, 0), dtype=bool), "(2, 3, 0)"),
    ],
)
def test_transform_rejects_bad_shapes(bad, shape_text):
    f = LZCFeatures().fit(random_rasters(2, 3, 10))
    for call in (f.transform, LZCFeatures().fit):
        with pytest.raises(DataError) as info:
            call(bad)
        assert "spiketrains" in str(info.value)
        assert shape_text in str(info.value)


def test_transform_rejects_non_binary_and_wrong_neuron_count():
    X = random_rasters(2, 3, 10).astype(int)
    f = LZCFeatures().fit(X)
    X[1, 2, 5] = 2
    with pytest.raises(DataError, match=r"spiketrains.*\(2, 3, 10\).*2.*\(1, 2, 5\)"):
        f.transform(X)
    Xf = random_rasters(2, 3, 10).astype(float)
    Xf[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="spiketrains"):
        f.transform(Xf)
    with pytest.raises(DataError, match="spiketrains"):
        f.transform(np.full((2, 3, 10), "a"))
    with pytest.raises(DataError, match=r"spiketrains: shape \(2, 4, 10\) has 4 neurons.*fitted on 3"):
        f.transform(random_rasters(2, 4, 10))


def test_transform_before_fit_and_bad_params():
    X = random_rasters(2, 3, 10)
    with pytest.raises(NotFittedError):
        LZCFeatures().transform(X)
    for params, field in [({"alpha": 1}, "alpha"), ({"alpha": "2"}, "alpha"), ({"normalize": "yes"}, "normalize"),
                          ({"include_counts": 1}, "include_counts")]:
        with pytest.raises(ParameterError) as info:
            LZCFeatures(**params).fit(X)
        assert info.value.field == field


def two_class_rasters(n_per_class=20, n_neurons=3, n_bins=128, seed=0):
    """Class 0: random spike trains (high LZC); class 1: periodic ones at the same rate (low LZC)."""
    rng = np.random.default_rng(seed)
    random_part = rng.random((n_per_class, n_neurons, n_bins)) < 0.25
    periodic = np.zeros((n_per_class, n_neurons, n_bins), dtype=bool)
    for i in range(n_per_class):
        for j in range(n_neurons):
            periodic[i, j, rng.integers(4) :: 4] = True
    X = np.concatenate([random_part, periodic])
    y = np.repeat([0, 1], n_per_class)
    return X, y


def test_works_in_pipeline_and_with_clone():
    X, y = two_class_rasters()
    pipe = make_pipeline(LZCFeatures(include_counts=True), default_pipeline(seed=0))
    pipe.fit(X, y)
    assert pipe.score(X, y) == 1.0
    X2, y2 = two_class_rasters(seed=1)
    assert pipe.score(X2, y2) == 1.0

    params = pipe.get_params()
    assert params["lzcfeatures__include_counts"] is True
    assert params["pipeline__logisticregression__C"] == 1.0
    pipe.set_params(lzcfeatures__alpha=3)
    assert pipe.named_steps["lzcfeatures"].alpha == 3

    f = LZCFeatures(alpha=3, normalize=False, include_counts=True).fit(X)
    g = clone(f)
    assert g.get_params() == f.get_params()
    assert not hasattr(g, "n_neurons_")
    np.testing.assert_array_equal(g.fit_transform(X), f.transform(X))


# ------------------------------------------------------------------------------------------------------
# default_pipeline


def test_default_pipeline():
    pipe = default_pipeline(seed=7, C=0.5)
    assert list(pipe.named_steps) == ["standardscaler", "logisticregression"]
    lr = pipe.named_steps["logisticregression"]
    assert (lr.C, lr.random_state) == (0.5, 7)
    assert lr.max_iter >= 1000
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises(ParameterError, match="^C"):
            default_pipeline(C=bad)


# ------------------------------------------------------------------------------------------------------
# LZCThresholdClassifier


def brute_force_best_accuracy(scores, y, classes):
    """Max training accuracy over every candidate threshold and both directions, by plain loops."""
    u = np.unique(scores)
    candidates = [u[0] - 1.0, u[-1] + 1.0] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])]
    best = 0.0
    for t in candidates:
        for upper in classes:
            lower = classes[0] if upper == classes[1] else classes[1]
            pred = np.where(scores > t, upper, lower)
            best = max(best, float(np.mean(pred == y)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_threshold_classifier_reaches_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n = 41 + seed * 7
    y = rng.integers(0, 2, size=n)
    # overlapping classes, rounded so that ties between scores occur
    X = np.round(rng.normal(0.6 + 0.15 * y[:, None] * (-1) ** seed, 0.15, size=(n, 3)), 2)
    clf = LZCThresholdClassifier().fit(X, y)
    train_acc = float(np.mean(clf.predict(X) == y))
    assert train_acc == clf.train_accuracy_
    assert train_acc == pytest.approx(brute_force_best_accuracy(X.mean(axis=1), y, [0, 1]), abs=1e-12)
    assert 0.5 <= train_acc < 1.0


def test_threshold_classifier_finds_known_threshold_and_direction():
    rng = np.random.default_rng(0)
    low = rng.uniform(0.2, 0.5, size=(30, 4))
    high = rng.uniform(0.6, 0.9, size=(30, 4))
    X = np.concatenate([low, high])
    s = X.mean(axis=1)
    gap = (s[:30].max(), s[30:].min())
    expected = (gap[0] + gap[1]) / 2  # the only optimal midpoint

    clf = LZCThresholdClassifier().fit(X, np.repeat(["low", "high"], 30))
    assert list(clf.classes_) == ["high", "low"]
    assert clf.threshold_ == pytest.approx(expected)
    assert clf.direction_ == -1  # classes_[1] = "low" lies below the threshold
    assert clf.train_accuracy_ == 1.0
    np.testing.assert_array_equal(clf.predict([[0.3] * 4, [0.8] * 4]), ["low", "high"])

    clf = LZCThresholdClassifier().fit(X, np.repeat([0, 1], 30))
    assert clf.threshold_ == pytest.approx(expected)
    assert clf.direction_ == 1
    np.testing.assert_allclose(clf.decision_function(X), s - expected)
    # a constant training score: both classes equal, the majority constant prediction is the best
    clf = LZCThresholdClassifier().fit(np.ones((5, 2)), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(clf.predict(np.ones((3, 2))), [0, 0, 0])


def test_threshold_classifier_multiclass_nearest_mean():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(np.array([0.2, 0.5, 0.9])[y][:, None], 0.12, size=(60, 5))
    clf = LZCThresholdClassifier().fit(X, y)
    means = [X[y == k].mean() for k in range(3)]  # mean over samples and neurons = mean of row means
    np.testing.assert_allclose(clf.class_means_, means)
    assert clf.threshold_ is None
    X_new = rng.uniform(0, 1.1, size=(50, 5))
    expected = [int(np.argmin([abs(row.mean() - m) for m in means])) for row in X_new]
    np.testing.assert_array_equal(clf.predict(X_new), expected)
    # scikit-learn's multi-class decision_function: one column per class, the largest is the prediction
    decision = clf.decision_function(X_new)
    np.testing.assert_allclose(decision, -np.abs(X_new.mean(axis=1)[:, None] - np.array(means)[None, :]))
    np.testing.assert_array_equal(decision.argmax(axis=1), expected)


def test_threshold_classifier_errors_and_clone():
    with pytest.raises(DataError, match="labels: need at least 2 classes"):
        LZCThresholdClassifier().fit(np.ones((4, 2)), [1, 1, 1, 1])
    with pytest.raises(DataError, match="labels: length 3"):
        LZCThresholdClassifier().fit(np.ones((4, 2)), [0, 1, 1])
    with pytest.raises(DataError, match="features"):
        LZCThresholdClassifier().fit(np.ones(4), [0, 1, 0, 1])
    clf = LZCThresholdClassifier().fit(np.arange(8.0).reshape(4, 2), [0, 0, 1, 1])
    with pytest.raises(DataError, match=r"features: shape \(2, 3\)"):
        clf.predict(np.ones((2, 3)))
    with pytest.raises(NotFittedError):
        LZCThresholdClassifier().predict(np.ones((2, 2)))
    assert not hasattr(clone(clf), "classes_")


# ------------------------------------------------------------------------------------------------------
# evaluate


def separable_features(n_per_class=(100, 100), n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, k) for k, n in enumerate(n_per_class)])
    X = rng.normal(3.0 * y[:, None], 0.2, size=(y.size, n_features))
    return X, y


def test_evaluate_split_is_stratified_disjoint_and_reproducible():
    X, y = separable_features((150, 100, 50))
    r = evaluate(X, y, seed=3)
    train, test = np.array(r["train_indices"]), np.array(r["test_indices"])
    assert len(set(train) & set(test)) == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(300))
    assert (r["n_train"], r["n_test"], r["n_samples"]) == (270, 30, 300)
    # stratified: 10 % of every class
    assert [int(np.sum(y[test] == k)) for k in range(3)] == [15, 10, 5]
    assert r["chance_level"] == 0.5
    assert r["classes"] == [0, 1, 2]
    assert np.sum(r["confusion_matrix"], axis=1).tolist() == [15, 10, 5]

    assert evaluate(X, y, seed=3) == r
    other = evaluate(X, y, seed=4)
    assert other["test_indices"] != r["test_indices"]
    # n_test = ceil(test_size * n)
    assert evaluate(X[:291], y[:291], seed=3)["n_test"] == 30


def test_evaluate_separable_gives_perfect_test_accuracy_with_wilson_ci():
    X, y = separable_features()
    r = evaluate(X, y, seed=0)
    assert r["test_accuracy"] == 1.0
    assert r["n_test_correct"] == r["n_test"] == 20
    low, high = wilson_all_correct(20)
    assert r["test_accuracy_ci"] == pytest.approx([low, high], abs=1e-12)
    assert r["test_accuracy_ci"] == list(accuracy_ci(20, 20)[1:])
    assert r["cv_accuracy_mean"] == 1.0 and r["cv_accuracy_std"] == 0.0
    assert r["cv_accuracy_folds"] == [1.0] * 5
    assert r["confusion_matrix"] == [[10, 0], [0, 10]]
    assert r["best_params"] is None
    json.dumps(r)  # plain JSON types only


def test_evaluate_shuffled_labels_is_at_chance():
    rng = np.random.default_rng(11)
    X, _ = separable_features((1000, 1000), n_features=4, seed=11)
    y = rng.permutation(np.repeat([0, 1], 1000))
    r = evaluate(X, y, seed=0)
    low, high = r["test_accuracy_ci"]
    assert r["n_test"] == 200
    assert low < 0.5 < high
    assert abs(r["test_accuracy"] - 0.5) < 0.1
    assert abs(r["cv_accuracy_mean"] - 0.5) < 0.05
    assert r["chance_level"] == 0.5


def test_evaluate_cv_matches_independent_cross_validation():
    X, y = separable_features((60, 60), seed=5)
    X = X + np.random.default_rng(5).normal(0, 1.5, size=X.shape)  # make it imperfect
    r = evaluate(X, y, seed=2, n_folds=4)
    train = np.array(r["train_indices"])
    folds = StratifiedKFold(4, shuffle=True, random_state=2)
    expected = []
    for tr, va in folds.split(X[train], y[train]):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000, random_state=2))
        expected.append(model.fit(X[train][tr], y[train][tr]).score(X[train][va], y[train][va]))
    assert r["cv_accuracy_folds"] == pytest.approx(expected, abs=1e-12)
    assert r["cv_accuracy_mean"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert r["cv_accuracy_std"] == pytest.approx(np.std(expected), abs=1e-12)
    assert 0.6 < r["cv_accuracy_mean"] < 1.0
    test = np.array(r["test_indices"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000, random_state=2))
    assert r["test_accuracy"] == model.fit(X[train], y[train]).score(X[test], y[test])


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on columns 1..; column 0 holds the row index, logged at every fit/predict."""

    log: list = []

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        SpyClassifier.log.append(("fit", set(X[:, 0].astype(int).tolist())))
        self.model_ = LogisticRegression(C=self.C, max_iter=10_000).fit(X[:, 1:], y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        SpyClassifier.log.append(("predict", set(X[:, 0].astype(int).tolist())))
        return self.model_.predict(X[:, 1:])


def test_grid_search_never_sees_the_test_set():
    rng = np.random.default_rng(8)
    X, y = separable_features((80, 80), n_features=3, seed=8)
    X = X + rng.normal(0, 2.0, size=X.shape)
    X = np.column_stack([np.arange(160), X])
    SpyClassifier.log.clear()
    grid = {"C": [1e-4, 1e-2, 1.0]}
    r = evaluate(X, y, seed=1, classifier=SpyClassifier(), param_grid=grid)
    test = set(r["test_indices"])
    train = set(r["train_indices"])
    fits = [ids for kind, ids in SpyClassifier.log if kind == "fit"]
    predicts = [ids for kind, ids in SpyClassifier.log if kind == "predict"]
    assert len(fits) == 3 * 5 + 1  # every grid point on every fold, then the final refit
    assert all(ids <= train for ids in fits)
    assert fits[-1] == train
    # only the very last prediction (the final test) touches test rows
    assert all(ids <= train for ids in predicts[:-1])
    assert predicts[-1] == test
    assert r["best_params"]["C"] in grid["C"]
    assert r["param_grid"] == {"C": [0.0001, 0.01, 1.0]}


def test_grid_search_choice_equals_independent_search_on_training_part():
    rng = np.random.default_rng(4)
    X, y = separable_features((90, 90), n_features=6, seed=4)
    X = X + rng.normal(0, 3.0, size=X.shape)
    grid = {"logisticregression__C": [1e-4, 1e-3, 1e-2, 1.0, 100.0]}
    r = evaluate(X, y, seed=6, param_grid=grid)
    train = np.array(r["train_indices"])
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000, random_state=6)),
        grid,
        cv=StratifiedKFold(5, shuffle=True, random_state=6),
        scoring="accuracy",
    ).fit(X[train], y[train])
    assert r["best_params"] == search.best_params_
    best = search.best_index_
    assert r["cv_accuracy_mean"] == pytest.approx(search.cv_results_["mean_test_score"][best], abs=1e-12)
    assert r["cv_accuracy_std"] == pytest.approx(search.cv_results_["std_test_score"][best], abs=1e-12)
    assert r["best_params"]["logisticregression__C"] != grid["logisticregression__C"][0]  # a real choice
    assert r["classifier"] == " ".join(repr(default_pipeline(seed=6).set_params(**search.best_params_)).split())
    test = np.array(r["test_indices"])
    assert r["test_accuracy"] == search.best_estimator_.score(X[test], y[test])
    json.dumps(r)


def test_evaluate_with_threshold_classifier_and_end_to_end_rasters():
    X, y = two_class_rasters(n_per_class=30, n_bins=96, seed=2)
    features = LZCFeatures().fit_transform(X)
    r = evaluate(features, y, seed=0, classifier=LZCThresholdClassifier())
    assert r["test_accuracy"] == 1.0
    assert r["n_test"] == 6
    assert r["classifier"] == "LZCThresholdClassifier()"
    r2 = evaluate(features, np.where(y == 0, "random", "periodic"), seed=0)
    assert r2["classes"] == ["periodic", "random"]
    assert r2["test_accuracy"] == 1.0


@pytest.mark.parametrize(
    "kwargs,error,pattern",
    [
        ({"labels": np.repeat([0, 1], 10)[:-1]}, DataError, r"labels: length 19 .* 20 samples"),
        ({"labels": np.zeros(20)}, DataError, r"labels: need at least 2 classes"),
        (
            {"labels": np.array([0] * 17 + [1] * 3)},
            DataError,
            r"labels: class 1 has 3 samples, need at least 5 for n_folds=5",
        ),
        ({"n_folds": 10}, DataError, r"labels: class 0 has 10 samples.*n_folds=10"),
        ({"n_folds": 1}, ParameterError, r"^n_folds = 1"),
        ({"n_folds": 2.0}, ParameterError, r"^n_folds"),
        ({"test_size": 0.0}, ParameterError, r"^test_size = 0.0"),
        ({"test_size": 1.0}, ParameterError, r"^test_size"),
        ({"test_size": 0.04}, ParameterError, r"^test_size = 0.04: gives 1 test samples"),
        ({"seed": -1}, ParameterError, r"^seed = -1"),
        ({"seed": None}, ParameterError, r"^seed = None"),
        ({"param_grid": {"C": [1.0]}}, ParameterError, r"^param_grid.*'C' is not a parameter.*lo.*__C"),
        ({"param_grid": {"logisticregression__C": []}}, ParameterError, r"^param_grid.*non-empty list"),
        ({"param_grid": "C"}, ParameterError, r"^param_grid"),
        ({"features": np.ones((20, 2, 2))}, DataError, r"features: expected a 2-D array.*\(20, 2, 2\)"),
        ({"features": np.full((20, 2), np.nan)}, DataError, r"features: 40 non-finite"),
    ],
)
def test_evaluate_validation(kwargs, error, pattern):
    args = {"features": np.random.default_rng(0).normal(size=(20, 2)), "labels": np.repeat([0, 1], 10), "seed": 0}
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        evaluate(args.pop("features"), args.pop("labels"), **args)


def test_evaluate_class_too_small_after_test_split():
    # 5 samples of class 1 pass the first check, but one goes to the test part, leaving 4 < n_folds
    # (a 20 % test split of 15 + 5 samples takes exactly 3 + 1)
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.array([0] * 15 + [1] * 5)
    with pytest.raises(DataError, match=r"labels: class 1 has 5 samples, of which 4 are in the training part"):
        evaluate(X, y, seed=0, test_size=0.2)


def test_readout_and_metrics_do_not_import_brian2():
    import subprocess

    code = "import sys, brainlz.readout, brainlz.metrics; print('brian2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stratified_split_is_the_split_evaluate_uses():
    from brainlz.data import stratified_split

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 20)
    features = rng.normal(size=(60, 4))
    result = evaluate(features, labels, seed=7, test_size=0.2, n_folds=3)
    train, test = stratified_split(labels, 0.2, 7)
    assert result["train_indices"] == train.tolist() and result["test_indices"] == test.tolist()
    assert set(train).isdisjoint(test) and len(test) == 12
    other_train, _ = stratified_split(labels, 0.2, 8)
    assert not np.array_equal(train, other_train)
    # the same split given explicitly: the same result; another split: another test set
    given = evaluate(features, labels, seed=7, test_size=0.2, n_folds=3, split=(train, test))
    assert given == result
    moved = evaluate(features, labels, seed=7, test_size=0.2, n_folds=3, split=stratified_split(labels, 0.2, 8))
    assert moved["test_indices"] != result["test_indices"]


@pytest.mark.parametrize("split, field", [
    ((np.arange(50), np.arange(45, 60)), "split"),          # overlapping parts
    ((np.arange(50), np.arange(50, 61)), "split.test"),     # a row that does not exist
    ((np.arange(50), np.array([], dtype=int)), "split.test"),  # an empty test part
    ((np.arange(50), np.array([51.0, 52.0])), "split.test"),   # not integer indices
    ((np.array([1, 1, 2]), np.arange(50, 60)), "split.train"),  # a row twice
    (np.arange(60), "split"),                                 # not a pair
])
def test_evaluate_refuses_a_bad_split(split, field):
    labels = np.repeat([0, 1, 2], 20)
    features = np.random.default_rng(0).normal(size=(60, 4))
    with pytest.raises(ParameterError) as info:
        evaluate(features, labels, seed=0, n_folds=2, split=split)
    assert info.value.field == field


