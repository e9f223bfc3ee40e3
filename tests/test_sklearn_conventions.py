"""scikit-learn's estimator conventions, checked with scikit-learn's own estimator checks (issue 22.4).

``LZCThresholdClassifier`` takes 2-D features and runs every check of ``check_estimator``.  ``default_pipeline()``
(scikit-learn's own Pipeline, configured by brainlz) runs them too, with the two checks that scikit-learn's Pipeline
itself fails marked as expected failures.  ``LZCFeatures`` takes 3-D rasters (``three_d_array`` tag), for which
``check_estimator`` runs nothing; it runs scikit-learn's checks that need no data as they are, and the checks that
feed 2-D data are rewritten below for rasters, each under the name of the scikit-learn check it stands for.
"""

import pickle

import numpy as np
import pytest
import sklearn
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.fixes import parse_version
from sklearn.utils.validation import check_is_fitted

from brainlz.readout import LZCFeatures, LZCThresholdClassifier, default_pipeline

if parse_version(sklearn.__version__) < parse_version("1.6"):
    pytest.skip("estimator tags (__sklearn_tags__) and expected_failed_checks need scikit-learn >= 1.6",
                allow_module_level=True)

# scikit-learn's Pipeline writes the fitted steps back into its `steps` parameter during fit; scikit-learn runs these
# two checks on none of its meta-estimators.  Nothing of brainlz is involved.
PIPELINE_FAILS = {
    "check_estimators_overwrite_params": "scikit-learn's Pipeline replaces `steps` by the fitted steps in fit",
    "check_dont_overwrite_parameters": "scikit-learn's Pipeline replaces `steps` by the fitted steps in fit",
}


def _expected_failed(estimator):
    # LZCThresholdClassifier: none.  (Checks skipped by scikit-learn itself, e.g. the pandas and array-API ones
    # where those are not installed, show as skipped.)
    return PIPELINE_FAILS if type(estimator).__name__ == "Pipeline" else {}


@estimator_checks.parametrize_with_checks([LZCThresholdClassifier(), default_pipeline()],
                                          expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------------------------------ LZCFeatures
# scikit-learn's checks that use no data (the API checks of parametrize_with_checks, and those of get/set_params)
DATA_FREE_CHECKS = ["check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
                    "check_estimator_repr", "check_no_attributes_set_in_init", "check_parameters_default_constructible",
                    "check_get_params_invariance", "check_set_params",
                    "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order"]

VARIANTS = [LZCFeatures(), LZCFeatures(include_counts=True), LZCFeatures(normalize=False, threads=2)]


def _rasters(n_samples=12, n_neurons=5, n_bins=80, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n_samples, n_neurons, n_bins)) < rng.uniform(0.05, 0.5, size=(n_samples, n_neurons, 1))


@pytest.mark.parametrize("check_name", DATA_FREE_CHECKS)
@pytest.mark.parametrize("estimator", VARIANTS, ids=repr)
def test_lzc_features_data_free_sklearn_checks(estimator, check_name):
    check = getattr(estimator_checks, check_name, None)
    if check is None:
        pytest.skip(f"{check_name} is not in scikit-learn {sklearn.__version__}")
    check(type(estimator).__name__, estimator)


def test_lzc_features_declares_3d_input_and_is_a_transformer():
    tags = LZCFeatures().__sklearn_tags__()
    assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array
    assert tags.transformer_tags is not None and tags.estimator_type is None and tags.requires_fit
    assert not tags.target_tags.required  # y is optional


@pytest.mark.parametrize("estimator", VARIANTS, ids=repr)
def test_lzc_features_fit_conventions(estimator):
    """check_estimators_fit_returns_self, check_fit_score_takes_y, check_estimators_overwrite_params,
    check_dont_overwrite_parameters, check_n_features_in_after_fitting, check_fit_check_is_fitted."""
    X, y = _rasters(), np.arange(12) % 2
    est = clone(estimator)
    params = est.get_params()
    public_before = {key for key in vars(est) if not key.startswith("_") and not key.endswith("_")}
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert est.fit(X, y) is est and est.fit(X) is est
    assert est.get_params() == params  # fit changes no parameter
    added = {key for key in vars(est) if not key.startswith("_")} - public_before
    assert added and all(key.endswith("_") for key in added), added  # learned attributes only, named with _
    check_is_fitted(est)
    assert est.n_features_in_ == est.n_neurons_ == 5 and est.n_bins_ == 80
    with pytest.raises(ValueError, match=r"4 neurons.*fitted on 5"):
        est.transform(_rasters(n_neurons=4))


@pytest.mark.parametrize("method", ["transform", "get_feature_names_out"])
def test_lzc_features_unfitted(method):
    """check_transformers_unfitted: transform (and get_feature_names_out) before fit raise NotFittedError."""
    with pytest.raises(NotFittedError):
        getattr(LZCFeatures(), method)(*([_rasters()] if method == "transform" else []))


@pytest.mark.parametrize("estimator", VARIANTS, ids=repr)
def test_lzc_features_transform_conventions(estimator):
    """check_transformer_general, check_fit_idempotent, check_methods_sample_order_invariance,
    check_methods_subset_invariance, check_fit2d_1sample, check_dict_unchanged, check_transformer_data_not_an_array,
    check_readonly_memmap_input, check_estimators_dtypes, check_transformer_get_feature_names_out."""
    X = _rasters()
    est = clone(estimator).fit(X)
    out = est.transform(X)
    n_out = 10 if est.include_counts else 5
    assert out.shape == (12, n_out) and out.dtype == np.float64
    np.testing.assert_array_equal(clone(estimator).fit_transform(X), out)
    np.testing.assert_array_equal(est.fit(X).transform(X), out)  # idempotent
    order = np.random.default_rng(1).permutation(12)
    np.testing.assert_array_equal(est.transform(X[order]), out[order])
    np.testing.assert_array_equal(np.vstack([est.transform(X[k:k + 5]) for k in range(0, 12, 5)]), out)
    np.testing.assert_array_equal(clone(estimator).fit(X[:1]).transform(X[:1]), out[:1])
    state = {key: (value.copy() if isinstance(value, np.ndarray) else value) for key, value in vars(est).items()}
    est.transform(X)
    assert vars(est).keys() == state.keys() and all(np.array_equal(vars(est)[k], v) for k, v in state.items())
    np.testing.assert_array_equal(est.transform(X.tolist()), out)
    readonly = X.copy()
    readonly.setflags(write=False)
    np.testing.assert_array_equal(est.transform(readonly), out)
    for dtype in (np.int64, np.float32, np.uint8):
        np.testing.assert_array_equal(est.transform(X.astype(dtype)), out)
    names = est.get_feature_names_out()
    assert names.shape == (n_out,) and names.dtype == object and len(set(names)) == n_out


@pytest.mark.parametrize("estimator", VARIANTS, ids=repr)
def test_lzc_features_pickle_and_clone(estimator):
    """check_estimators_pickle, check_estimator_cloneable (of a fitted estimator)."""
    X = _rasters()
    est = clone(estimator).fit(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("bad,what", [
    (np.empty((0, 5, 80)), "0 samples (check_estimators_empty_data_messages)"),
    (np.full((2, 5, 80), np.nan), "NaN (check_estimators_nan_inf)"),
    (np.full((2, 5, 80), np.inf), "inf (check_estimators_nan_inf)"),
    (np.ones((2, 5, 80), dtype=complex), "complex values (check_complex_data)"),
    (np.ones((2, 5)), "2-D input (check_fit2d_predict1d, for rasters)"),
])
def test_lzc_features_rejects_bad_input_with_value_error(bad, what):
    with pytest.raises(ValueError, match="spiketrains"):
        LZCFeatures().fit(bad)
    with pytest.raises(ValueError, match="spiketrains"):
        LZCFeatures().fit(_rasters()).transform(bad)


def test_lzc_features_in_a_pipeline_and_cross_validation():
    """Through Pipeline, clone and cross_val_score, as evaluate() and users put it together."""
    rng = np.random.default_rng(0)
    rates = np.where(np.arange(40) % 2 == 0, 0.05, 0.4)[:, None, None]
    X, y = rng.random((40, 4, 120)) < rates, np.arange(40) % 2
    pipeline = make_pipeline(LZCFeatures(include_counts=True), LZCThresholdClassifier())
    assert cross_val_score(pipeline, X, y, cv=4).mean() > 0.9
    fitted = clone(pipeline).fit(X, y)
    assert fitted.n_features_in_ == 4 and list(fitted.predict(X[:4])) == [0, 1, 0, 1]
    assert pipeline.set_params(lzcfeatures__normalize=False).get_params()["lzcfeatures__normalize"] is False


# --------------------------------------------------------------------------------- the fixes, one by one
def test_threshold_classifier_follows_sklearn_input_conventions():
    X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30) % 3
    clf = LZCThresholdClassifier().fit(X, y)
    decision = clf.decision_function(X)
    assert decision.shape == (30, 3)  # multi-class decision_function, as scikit-learn's classifiers have it
    np.testing.assert_array_equal(clf.classes_[decision.argmax(axis=1)], clf.predict(X))
    with pytest.raises(ValueError, match="X has 2 features, but LZCThresholdClassifier is expecting 3"):
        clf.predict(X[:, :2])
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = LZCThresholdClassifier().fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict(X), clf.predict(X))
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'"):
        LZCThresholdClassifier().fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="requires y to be passed"):
        LZCThresholdClassifier().fit(X, None)
    with pytest.raises(ValueError, match="[Ss]parse"):
        LZCThresholdClassifier().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        LZCThresholdClassifier().fit(X + 1j, y)
    bad = X.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="features: cannot be read"):
        LZCThresholdClassifier().fit(bad, y)
    assert LZCThresholdClassifier().__sklearn_tags__().classifier_tags.poor_score
