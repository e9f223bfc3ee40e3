"""Readouts: LZ76 complexity features of spike rasters and their classification.

The flow is ``rasters bool[n_samples, n_neurons, n_bins]`` --:class:`LZCFeatures`--> ``features
float[n_samples, n_features]`` --classifier--> labels. Features are computed once and then handed to
:func:`evaluate`, which does the train/test split, cross-validation, optional hyper-parameter search
(on the training part only) and the final test with a Wilson confidence interval.

Two classifiers are provided: :func:`default_pipeline` (standardisation + logistic regression) and the
plain baseline :class:`LZCThresholdClassifier` (a threshold on the mean complexity).

This module imports scikit-learn but not Brian2.
"""

from __future__ import annotations

import numbers
import warnings
from collections import Counter

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from . import checks
from . import lzc as _lzc
from .errors import DataError, ParameterError
from .files import jsonable
from .metrics import accuracy_ci

__all__ = ["LZCFeatures", "LZCThresholdClassifier", "default_pipeline", "evaluate"]


# ----------------------------------------------------------------------------------------------------------
# validation helpers


def _check_rasters(spiketrains) -> np.ndarray:
    """Return ``spiketrains`` as a bool array [n_samples, n_neurons, n_bins] or raise DataError."""
    try:
        arr = np.asarray(spiketrains)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"spiketrains: cannot be read as an array ({exc})") from None
    shape = tuple(arr.shape)
    if arr.ndim != 3:
        raise DataError(
            f"spiketrains: expected a 3-D binary array [n_samples, n_neurons, n_bins], got shape {shape}"
        )
    if min(shape) == 0:
        raise DataError(
            f"spiketrains: every axis of [n_samples, n_neurons, n_bins] must be non-empty, got shape {shape}"
        )
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "biuf":
        raise DataError(
            f"spiketrains: expected a binary (bool or 0/1) array, got dtype {arr.dtype} with shape {shape}"
        )
    bad = (arr != 0) & (arr != 1)  # NaN compares unequal to both, so it is caught too
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"spiketrains: expected binary values 0/1 in an array of shape {shape}, "
            f"found {arr[first]!r} at index {first}"
        )
    return arr.astype(bool)


class _NotNumericError(DataError, TypeError):
    """Features with a non-numeric entry: a :class:`DataError` and, as numpy and scikit-learn have it, a TypeError."""


def _check_features(features) -> np.ndarray:
    """Return ``features`` as a finite float array [n_samples, n_features] or raise DataError (messages as
    scikit-learn's ``check_array`` words them where its estimator checks look for the words)."""
    if sparse.issparse(features):
        raise DataError(f"features: sparse input ({type(features).__name__}) is not supported; pass a dense array "
                        f"(X.toarray())")
    try:
        arr = np.asarray(features)
        if arr.dtype.kind == "c":
            raise DataError(f"features: Complex data not supported (dtype {arr.dtype}); expected real numbers")
        arr = arr.astype(float, copy=False)
    except TypeError as exc:
        raise _NotNumericError(f"features: cannot be read as a float array ({exc})") from None
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"features: cannot be read as a float array ({exc})") from None
    if arr.ndim != 2:
        hint = ("; Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample"
                if arr.ndim == 1 else "")
        raise DataError(f"features: expected a 2-D array [n_samples, n_features], got shape {tuple(arr.shape)}"
                        f"{hint}")
    for axis, what in ((0, "sample"), (1, "feature")):
        if arr.shape[axis] == 0:
            raise DataError(f"features: 0 {what}(s) (shape={arr.shape}) while a minimum of 1 is required; expected "
                            f"a non-empty 2-D array [n_samples, n_features]")
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise DataError(f"features: {n_bad} non-finite value(s) (NaN or inf) in an array of shape {arr.shape}")
    return arr


def _check_labels(labels, n_samples: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise DataError(f"labels: expected a 1-D array, got shape {tuple(arr.shape)}")
    if arr.shape[0] != n_samples:
        raise DataError(f"labels: length {arr.shape[0]} does not match the {n_samples} samples of features")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise DataError("labels: contains NaN or inf")
    return arr


# ----------------------------------------------------------------------------------------------------------
# features


class LZCFeatures(TransformerMixin, BaseEstimator):
    """Lempel-Ziv (LZ76) complexity of every neuron's spike train, as a scikit-learn transformer.

    Maps rasters ``bool[n_samples, n_neurons, n_bins]`` to features ``float[n_samples, n_neurons]``:
    column ``j`` is ``brainlz.lzc.lzc(raster[i, j], alpha, normalize)``. With ``include_counts=True`` the
    spike count of every neuron is appended, giving ``[n_samples, 2 * n_neurons]`` (all complexities
    first, then all counts).

    Parameters
    ----------
    alpha : float, optional
        Alphabet size (>= 2) for the normalisation ``C * log_alpha(n_bins) / n_bins``. 2 for spike trains.
    normalize : bool, optional
        If True (default) return the normalised complexity, else the raw phrase count ``C`` (as float).
    include_counts : bool, optional
        If True, append each neuron's spike count. Default False.
    threads : int, optional
        Spike trains whose complexity is computed at the same time (:func:`brainlz.lzc.lzc`). Default 1.

    Attributes
    ----------
    n_neurons_ : int
        Number of neurons seen in :meth:`fit`; :meth:`transform` requires the same.
    n_features_in_ : int
        The same number: scikit-learn's name for the columns of the input (here the neurons of axis 1).
    n_bins_ : int
        Number of time bins seen in :meth:`fit` (informative; :meth:`transform` accepts other lengths,
        but raw phrase counts, ``normalize=False``, are only comparable between equal lengths).

    Notes
    -----
    ``fit`` learns nothing from the data: the transform is fixed. It records the shape so that a
    pipeline fitted on one network cannot silently be applied to rasters of another.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((4, 3, 64)) < 0.2
    >>> LZCFeatures(include_counts=True).fit_transform(X).shape
    (4, 6)
    """

    def __init__(self, alpha=2, normalize=True, include_counts=False, threads=1):
        self.alpha = alpha
        self.normalize = normalize
        self.include_counts = include_counts
        self.threads = threads

    def fit(self, X, y=None):
        """Validate the rasters and record their shape.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_neurons, n_bins)
            Binary spike rasters (bool, or integers/floats that are all 0 or 1).
        y : ignored
            Present for pipeline compatibility.

        Returns
        -------
        self : LZCFeatures

        Raises
        ------
        DataError
            If ``X`` is not a non-empty 3-D binary array.
        ParameterError
            If ``alpha`` is not a number >= 2 or ``normalize``/``include_counts`` is not a bool.
        """
        self._checked_params()
        arr = _check_rasters(X)
        self.n_neurons_ = self.n_features_in_ = int(arr.shape[1])
        self.n_bins_ = int(arr.shape[2])
        return self

    def transform(self, X):
        """Compute the per-neuron complexity (and optionally spike counts).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_neurons, n_bins)
            Binary spike rasters with ``n_neurons == self.n_neurons_``.

        Returns
        -------
        features : ndarray of float, shape (n_samples, n_neurons) or (n_samples, 2 * n_neurons)
            Complexities, followed by spike counts if ``include_counts``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before :meth:`fit`.
        DataError
            If ``X`` is not a non-empty 3-D binary array or its neuron count differs from the fit.
        """
        check_is_fitted(self, "n_neurons_")
        alpha, normalize, include_counts = self._checked_params()
        arr = _check_rasters(X)
        if arr.shape[1] != self.n_neurons_:
            raise DataError(
                f"spiketrains: shape {tuple(arr.shape)} has {arr.shape[1]} neurons, "
                f"but LZCFeatures was fitted on {self.n_neurons_}"
            )
        values = np.asarray(_lzc.lzc(arr, alpha=alpha, normalize=normalize, threads=self.threads), dtype=float)
        values = values.reshape(arr.shape[:2])
        if include_counts:
            counts = arr.sum(axis=2, dtype=np.int64).astype(float)
            values = np.concatenate([values, counts], axis=1)
        return values

    def _checked_params(self) -> tuple[float, bool, bool]:
        """``alpha``, ``normalize`` and ``include_counts``, validated."""
        return (checks.real("alpha", self.alpha, low=2,
                            reason="must be a finite number >= 2 (alphabet size; 2 for spike trains)"),
                checks.flag("normalize", self.normalize), checks.flag("include_counts", self.include_counts))

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array_like of str, optional
            Names of the neurons (length ``n_neurons_``). Default ``neuron0, neuron1, ...``.

        Returns
        -------
        names : ndarray of str, shape (n_features_out,)
            ``lzc_<neuron>`` for every neuron, then ``count_<neuron>`` if ``include_counts``.
        """
        check_is_fitted(self, "n_neurons_")
        if input_features is None:
            neurons = [f"neuron{j}" for j in range(self.n_neurons_)]
        else:
            neurons = [str(name) for name in input_features]
            if len(neurons) != self.n_neurons_:
                raise ParameterError(
                    "input_features", input_features, f"must name {self.n_neurons_} neurons, got {len(neurons)}"
                )
        names = [f"lzc_{name}" for name in neurons]
        if self.include_counts:
            names += [f"count_{name}" for name in neurons]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


# ----------------------------------------------------------------------------------------------------------
# classifiers


def default_pipeline(seed: int = 0, C: float = 1.0) -> Pipeline:
    """The default classifier on complexity features: standardisation + logistic regression.

    It takes *features* (e.g. from :class:`LZCFeatures`), not rasters, so that the costly complexity
    computation happens once per data set rather than once per cross-validation fold.

    Parameters
    ----------
    seed : int, optional
        ``random_state`` of the logistic regression.
    C : float, optional
        Inverse L2 regularisation strength, > 0.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``standardscaler`` and ``logisticregression``; tune e.g. ``logisticregression__C``.
    """
    C = checks.real("C", C, low=0, low_open=True,
                    reason="must be a finite number > 0 (inverse regularisation strength)")
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=10_000, random_state=seed))


class LZCThresholdClassifier(ClassifierMixin, BaseEstimator):
    """Baseline: classify by the mean complexity over neurons.

    Each sample's score is the mean of its feature row, ``s = X.mean(axis=1)`` (so pass complexity
    features only, e.g. ``LZCFeatures(include_counts=False)``).

    * Two classes: a single threshold and a direction, chosen to maximise training accuracy. The
      candidate thresholds are the midpoints between consecutive distinct sorted training scores, plus
      one below the minimum (which, with the two directions, gives the two constant predictions). A
      sample is assigned ``classes_[1]`` when ``direction_ * (s - threshold_) > 0``, else ``classes_[0]``.
      Ties in training accuracy go to the first candidate in ascending threshold order, direction +1
      before -1.
    * More than two classes: the class whose mean training score is nearest to ``s`` (ties go to the
      first class in ``classes_``).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Sorted class labels.
    class_means_ : ndarray of float, shape (n_classes,)
        Mean training score of each class.
    threshold_ : float or None
        The threshold (two classes only).
    direction_ : int or None
        +1 if ``classes_[1]`` lies above the threshold, -1 if below (two classes only).
    train_accuracy_ : float
        Accuracy on the training data.
    n_features_in_ : int
        Number of feature columns seen in :meth:`fit`.
    """

    def __init__(self):
        pass

    @staticmethod
    def _scores(arr: np.ndarray) -> np.ndarray:
        return arr.mean(axis=1)

    def _validated_scores(self, X) -> np.ndarray:
        arr = _check_features(X)
        if hasattr(self, "n_features_in_") and arr.shape[1] != self.n_features_in_:
            raise DataError(
                f"features: shape {arr.shape}: X has {arr.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input (the columns it was fitted on)"
            )
        return self._scores(arr)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a baseline: only the mean of each row counts, by design
        return tags

    def fit(self, X, y):
        """Choose the threshold (2 classes) or the class means (> 2 classes).

        Parameters
        ----------
        X : array_like of float, shape (n_samples, n_features)
            Complexity features.
        y : array_like, shape (n_samples,)
            Class labels, at least 2 distinct.  A column vector ``(n_samples, 1)`` is used as 1-D, with a
            ``DataConversionWarning`` (as scikit-learn's classifiers do).

        Returns
        -------
        self : LZCThresholdClassifier

        Raises
        ------
        DataError
            If ``X`` or ``y`` is malformed, ``y`` is missing or not class labels (e.g. continuous values), or
            has fewer than 2 classes.
        """
        arr = _check_features(X)
        if y is None:
            raise DataError(f"labels: {type(self).__name__} requires y to be passed, but the target y is None")
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; labels: used as y.ravel()",
                          DataConversionWarning, stacklevel=2)
            labels = labels.ravel()
        labels = _check_labels(labels, arr.shape[0])
        kind = type_of_target(labels)
        if kind not in ("binary", "multiclass"):
            raise DataError(f"labels: Unknown label type: {kind!r}; expected class labels (integers or strings)")
        scores = self._scores(arr)
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        if self.classes_.size < 2:
            raise DataError(f"labels: need at least 2 classes, got {self.classes_.size} class: "
                            f"{self.classes_.tolist()!r}")
        self.n_features_in_ = int(arr.shape[1])
        self.class_means_ = np.array([scores[y_idx == k].mean() for k in range(self.classes_.size)])
        if self.classes_.size == 2:
            self.threshold_, self.direction_ = self._best_threshold(scores, y_idx == 1)
        else:
            self.threshold_, self.direction_ = None, None
        self.train_accuracy_ = float(np.mean(self.predict(arr) == labels))
        return self

    @staticmethod
    def _best_threshold(scores: np.ndarray, positive: np.ndarray) -> tuple[float, int]:
        """Threshold and direction that maximise training accuracy, in O(n log n)."""
        order = np.argsort(scores, kind="stable")
        s = scores[order]
        pos = positive[order].astype(np.int64)
        n = s.size
        # candidate k: the threshold separates the k lowest scores from the rest; only k at a change of
        # value (or 0) give a valid threshold.
        ks = np.concatenate([[0], np.flatnonzero(np.diff(s) > 0) + 1])
        pos_below = np.concatenate([[0], np.cumsum(pos)])[ks]  # positives among the k lowest
        n_pos = int(pos.sum())
        neg_below = ks - pos_below
        # direction +1: positives predicted above the threshold
        correct_up = neg_below + (n_pos - pos_below)
        # direction -1: positives predicted below the threshold
        correct_down = pos_below + ((n - ks) - (n_pos - pos_below))
        both = np.stack([correct_up, correct_down], axis=1)  # [candidate, direction]
        best = int(np.argmax(both.ravel()))
        i, d = divmod(best, 2)
        k = int(ks[i])
        if k == 0:
            threshold = float(s[0] - (1.0 + abs(s[0])))
        else:
            threshold = float(0.5 * (s[k - 1] + s[k]))
        return threshold, (1 if d == 0 else -1)

    def decision_function(self, X):
        """Confidence scores, as scikit-learn's classifiers give them.

        Parameters
        ----------
        X : array_like of float, shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of float, shape (n_samples,) or (n_samples, n_classes)
            Two classes: ``direction_ * (mean(X, axis=1) - threshold_)``, positive means ``classes_[1]``.  More
            classes: minus the distance of the score from each class mean, ``-|mean(X, axis=1) - class_means_|``;
            the largest (the nearest class, the first on ties) is the prediction.
        """
        check_is_fitted(self, "classes_")
        scores = self._validated_scores(X)
        if self.classes_.size == 2:
            return self.direction_ * (scores - self.threshold_)
        return -np.abs(scores[:, None] - self.class_means_[None, :])

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array_like of float, shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, shape (n_samples,)
        """
        decision = self.decision_function(X)
        if self.classes_.size == 2:
            return self.classes_[(decision > 0).astype(int)]
        return self.classes_[np.argmax(decision, axis=1)]


# ----------------------------------------------------------------------------------------------------------
# evaluation


def _check_int(field: str, value, minimum: int) -> int:
    # kept for evaluate's two calls until they call checks.integer themselves
    return checks.integer(field, value, low=minimum, reason=f"must be an integer >= {minimum}")


def _check_param_grid(param_grid, estimator) -> None:
    grids = [param_grid] if isinstance(param_grid, dict) else param_grid
    if not isinstance(grids, (list, tuple)) or not grids or not all(isinstance(g, dict) for g in grids):
        raise ParameterError("param_grid", param_grid, "must be a dict (or a list of dicts) of parameter lists")
    valid = estimator.get_params(deep=True)
    for grid in grids:
        for name, values in grid.items():
            if name not in valid:
                known = ", ".join(sorted(valid))
                raise ParameterError(
                    "param_grid", param_grid, f"{name!r} is not a parameter of the classifier; known: {known}"
                )
            if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
                raise ParameterError("param_grid", param_grid, f"{name!r} must map to a non-empty list of values")


def _default_split(y, test_size: float, seed: int, classes) -> tuple:
    """The stratified split of ``y`` with ``test_size`` (checked: both parts hold at least one sample per class)."""
    from .data import stratified_split  # here: importing brainlz.readout does not load Brian2

    n_samples = y.shape[0]
    n_test = int(np.ceil(test_size * n_samples))
    if n_test < classes.size:
        raise ParameterError(
            "test_size",
            test_size,
            f"gives {n_test} test samples out of {n_samples}, fewer than the {classes.size} classes",
        )
    if n_samples - n_test < classes.size:
        raise ParameterError(
            "test_size",
            test_size,
            f"leaves {n_samples - n_test} training samples out of {n_samples}, "
            f"fewer than the {classes.size} classes",
        )
    return stratified_split(y, test_size, seed)


def _check_split(split, n_samples: int) -> tuple:
    """``(train_indices, test_indices)`` as sorted int arrays: disjoint, non-empty, within ``n_samples``."""
    try:
        train, test = (np.asarray(part) for part in split)
    except (TypeError, ValueError):
        raise ParameterError("split", split, "expected a pair (train_indices, test_indices)") from None
    for name, part in (("train", train), ("test", test)):
        if part.ndim != 1 or part.size == 0 or part.dtype.kind not in "iu" or part.min() < 0 \
                or part.max() >= n_samples or np.unique(part).size != part.size:
            raise ParameterError(f"split.{name}", part.tolist() if part.size < 20 else f"{part.size} indices",
                                 f"expected distinct row indices in [0, {n_samples})")
    if np.intersect1d(train, test).size:
        raise ParameterError("split", np.intersect1d(train, test).tolist(), "rows in both the train and the test part")
    return np.sort(train), np.sort(test)


def evaluate(features, labels, *, seed, classifier=None, test_size=0.1, n_folds=5, param_grid=None,
             split=None) -> dict:
    """Split, cross-validate, (optionally) tune, and test a classifier on features.

    1. A stratified shuffle split puts ``test_size`` of the samples aside as the test set
       (:func:`brainlz.data.stratified_split` with ``seed``; the test size is ``ceil(test_size * n_samples)``),
       unless ``split`` gives the two parts (e.g. :meth:`brainlz.data.SpikeDataset.split` of the samples).
    2. On the training part only, stratified ``n_folds``-fold cross-validation
       (``StratifiedKFold(shuffle=True, random_state=seed)``) estimates the accuracy. If ``param_grid`` is
       given, ``GridSearchCV`` with the same folds picks the parameters with the best mean fold accuracy,
       and the reported fold accuracies are those of the chosen parameters (so they are slightly
       optimistic; the test accuracy is not).
    3. The classifier (with the chosen parameters) is refit on the whole training part and evaluated
       once on the test set. The test set is never used for fitting or for choosing parameters.

    Parameters
    ----------
    features : array_like of float, shape (n_samples, n_features)
        E.g. the output of :class:`LZCFeatures`.
    labels : array_like, shape (n_samples,)
        Class labels (at least 2 classes).
    seed : int
        Seed of the split, of the folds and of the default classifier.
    classifier : sklearn estimator, optional
        Cloned before use. Default ``default_pipeline(seed=seed)``.
    test_size : float, optional
        Fraction of samples in the test set, in (0, 1). Default 0.1.
    n_folds : int, optional
        Number of cross-validation folds on the training part, >= 2. Default 5.
    param_grid : dict or list of dict, optional
        Grid for ``GridSearchCV``, e.g. ``{"logisticregression__C": [0.1, 1, 10]}``.
    split : (train_indices, test_indices), optional
        The rows to train on and the rows to test on (disjoint, each non-empty); ``test_size`` is then only
        recorded.  Default: the stratified split of ``labels`` with ``test_size`` and ``seed``.

    Returns
    -------
    result : dict
        Plain JSON-serialisable values:

        ``n_samples``, ``n_features``, ``n_classes``, ``classes`` (sorted labels; the order of the
        confusion matrix), ``seed``, ``test_size``, ``n_folds``, ``classifier`` (one-line repr of the
        classifier with the chosen parameters),
        ``n_train``, ``n_test``, ``train_indices``, ``test_indices`` (sorted row indices into
        ``features``), ``cv_accuracy_mean``, ``cv_accuracy_std`` (population std over folds, ``ddof=0``
        like scikit-learn), ``cv_accuracy_folds`` (list), ``param_grid`` and ``best_params`` (None
        without a grid), ``n_test_correct``, ``test_accuracy``, ``test_accuracy_ci`` ([low, high], Wilson
        interval from :func:`brainlz.metrics.accuracy_ci`), ``confidence`` (0.95), ``chance_level``
        (largest class fraction over all samples), ``confusion_matrix`` (nested list; rows are true
        classes, columns predicted, both in ``classes`` order).

    Raises
    ------
    DataError
        If ``features`` or ``labels`` is malformed, there are fewer than 2 classes, or a class has too
        few samples for the test split and ``n_folds``.
    ParameterError
        If ``seed``, ``test_size``, ``n_folds`` or ``param_grid`` has a bad value (e.g. a grid key that
        is not a parameter of the classifier).
    """
    X = _check_features(features)
    y = _check_labels(labels, X.shape[0])
    seed = _check_int("seed", seed, 0)
    n_folds = _check_int("n_folds", n_folds, 2)
    if (
        isinstance(test_size, (bool, np.bool_))
        or not isinstance(test_size, numbers.Real)
        or not (0.0 < float(test_size) < 1.0)
    ):
        raise ParameterError("test_size", test_size, "must be a fraction strictly between 0 and 1, e.g. 0.1")
    test_size = float(test_size)

    n_samples = X.shape[0]
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise DataError(f"labels: need at least 2 classes, got only {classes.tolist()!r}")
    for cls, count in zip(classes.tolist(), counts.tolist()):
        if count < n_folds:  # n_folds >= 2 also covers the 2 per class that the stratified split needs
            raise DataError(
                f"labels: class {cls!r} has {count} samples, need at least {n_folds} "
                f"for n_folds={n_folds} and the test split"
            )
    if split is not None:
        train_idx, test_idx = _check_split(split, n_samples)
    else:
        train_idx, test_idx = _default_split(y, test_size, seed, classes)
    X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]

    train_counts = Counter(y_train.tolist())
    for cls, count in zip(classes.tolist(), counts.tolist()):
        if train_counts.get(cls, 0) < n_folds:
            raise DataError(
                f"labels: class {cls!r} has {count} samples, of which {train_counts.get(cls, 0)} are in the "
                f"training part after the {test_size:g} test split; need at least {n_folds} there for "
                f"n_folds={n_folds}"
            )

    estimator = default_pipeline(seed=seed) if classifier is None else clone(classifier)
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)

    if param_grid is not None:
        _check_param_grid(param_grid, estimator)
        search = GridSearchCV(
            estimator, param_grid, scoring="accuracy", cv=folds, refit=False, error_score="raise"
        )
        search.fit(X_train, y_train)
        best = search.best_index_
        fold_scores = np.array([search.cv_results_[f"split{i}_test_score"][best] for i in range(n_folds)])
        best_params = dict(search.best_params_)
        estimator = clone(estimator).set_params(**best_params)
    else:
        fold_scores = cross_val_score(
            estimator, X_train, y_train, scoring="accuracy", cv=folds, error_score="raise"
        )
        best_params = None

    final = clone(estimator).fit(X_train, y_train)
    predicted = final.predict(X_test)
    n_correct = int(np.sum(predicted == y_test))
    accuracy, low, high = accuracy_ci(n_correct, int(test_idx.size), 0.95)

    return {
        "n_samples": int(n_samples),
        "n_features": int(X.shape[1]),
        "n_classes": int(classes.size),
        "classes": jsonable(classes),
        "seed": seed,
        "test_size": test_size,
        "n_folds": n_folds,
        "classifier": " ".join(repr(estimator).split()),
        "n_train": int(train_idx.size),
        "n_test": int(test_idx.size),
        "train_indices": jsonable(train_idx),
        "test_indices": jsonable(test_idx),
        "cv_accuracy_mean": float(np.mean(fold_scores)),
        "cv_accuracy_std": float(np.std(fold_scores)),
        "cv_accuracy_folds": [float(v) for v in fold_scores],
        "param_grid": jsonable(param_grid),
        "best_params": jsonable(best_params),
        "n_test_correct": n_correct,
        "test_accuracy": accuracy,
        "test_accuracy_ci": [low, high],
        "confidence": 0.95,
        "chance_level": float(counts.max() / n_samples),
        "confusion_matrix": confusion_matrix(y_test, predicted, labels=classes).tolist(),
    }
