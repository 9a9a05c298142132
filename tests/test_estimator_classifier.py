"""`NeuralNMF` as a scikit-learn classifier: its tags, scikit-learn's binary and column-vector conventions, and the
error of the classifier methods on a model fitted without labels (it stays a transformer).

Also the parts of the three checks declared expected failures in tests/test_sklearn_checks.py that do not meet the
model's documented properties (-1 = unlabeled, X >= 0, no intercept) pass here, on data that respects them.
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.datasets import make_blobs
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from scipy.stats import rankdata

from neural_nmf.estimator import NeuralNMF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import one_thread  # noqa: E402,F401 (an autouse fixture)

METHODS = ('predict', 'predict_proba', 'decision_function', 'predict_layers')


def blobs(n=100, centers=2, seed=0):
    X, y = make_blobs(n_samples=n, centers=centers, random_state=seed)
    X = StandardScaler().fit_transform(X)
    return X - X.min(), y


def test_tags_say_classifier_and_y_optional():
    tags = get_tags(NeuralNMF())
    assert is_classifier(NeuralNMF()) and tags.estimator_type == 'classifier' and tags.classifier_tags.multi_class
    assert not tags.target_tags.required and tags.input_tags.positive_only and tags.transformer_tags is not None


def test_binary_decision_function_is_one_column():
    X, y = blobs()
    est = NeuralNMF(ranks=[2], epochs=10, random_state=0).fit(X, np.array(['no', 'yes'])[y])
    d, p = est.decision_function(X), est.predict_proba(X)
    assert d.shape == (100,) and p.shape == (100, 2)
    np.testing.assert_array_equal(est.predict(X), est.classes_[(d > 0).astype(int)])   # positive: classes_[1]
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-12)
    assert (rankdata(p[:, 1].round(10)) == rankdata(d.round(10))).all()
    assert est.score(X, np.array(['no', 'yes'])[y]) > 0.83
    three = NeuralNMF(ranks=[2], epochs=3, random_state=0).fit(*blobs(centers=3))
    assert three.decision_function(X).shape == (100, 3)


def test_binary_decision_function_per_layer():
    X, y = blobs(centers=4)
    est = NeuralNMF(ranks=[2, 2], epochs=3, random_state=0).fit(X, [y, y % 2])
    assert est.decision_function(X).shape == (100,) and est.decision_function(X, layer=0).shape == (100, 4)


def test_column_vector_y_is_one_label_set():
    X, y = blobs()
    one = NeuralNMF(ranks=[2, 2], epochs=3, random_state=0).fit(X, y)
    for col in (y[:, None], y[:, None].tolist()):
        with pytest.warns(DataConversionWarning, match='column-vector y'):
            est = NeuralNMF(ranks=[2, 2], epochs=3, random_state=0).fit(X, col)
        assert not hasattr(est, 'layer_classes_') and est.net_.c == 2
        np.testing.assert_array_equal(est.decision_function(X), one.decision_function(X))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        two = NeuralNMF(ranks=[2, 2], epochs=3, random_state=0).fit(X, np.column_stack([y, y]))
    assert two.net_.c == [2, 2]


def test_fitted_without_labels_the_classifier_methods_say_so():
    X, _ = blobs()
    est = NeuralNMF(ranks=[2], epochs=3, random_state=0)
    for m in METHODS:
        with pytest.raises(NotFittedError): getattr(est, m)(X)
    assert est.fit_transform(X).shape == (100, 2) and est.transform(X).shape == (100, 2)
    calls = {m: (lambda m=m: getattr(est, m)(X)) for m in METHODS} | {'score': lambda: est.score(X, np.zeros(100))}
    for m, call in calls.items():
        with pytest.raises(ValueError) as e: call()
        assert not isinstance(e.value, AttributeError)
        assert str(e.value) == f'NeuralNMF was fitted without labels: {m} needs y in fit(X, y)'
    pipe = make_pipeline(StandardScaler(with_mean=False), NeuralNMF(ranks=[2], epochs=3, random_state=0)).fit(X)
    with pytest.raises(ValueError, match='fitted without labels: predict needs y'): pipe.predict(X)


def test_cross_validation_without_y_is_unsupervised():
    X, _ = blobs()
    scores = cross_val_score(NeuralNMF(ranks=[2], epochs=3, random_state=0), X, cv=2,
                             scoring=lambda est, X, y=None: -est.reconstruction_err_)
    assert np.isfinite(scores).all()
