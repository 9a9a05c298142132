"""scikit-learn's estimator checks (`parametrize_with_checks`) on `NeuralNMF`; scikit-learn comes with the dev extra.

Two small configurations: one layer, and two layers with the default hierarchical-NMF start. `NeuralNMF` is a
classifier (fitted with y) and a transformer, so the classifier checks run too. Three checks are declared expected
failures (`EXPECTED_FAILED_CHECKS`, one reason each; the estimator page declares the same), each against a
documented property of the model: -1 marks an unlabeled sample, X must be nonnegative, and the classifier $B S_L$
has no intercept. The parts of these checks that do not meet those properties pass (tests/test_estimator_classifier.py).
`check_array_api_input` is skipped by scikit-learn itself unless SCIPY_ARRAY_API=1 is set (NeuralNMF does not
declare array API support).
"""
import sys
from pathlib import Path

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neural_nmf.estimator import NeuralNMF

EXPECTED_FAILED_CHECKS = {
    'check_classifiers_classes': 'its binary labels are {-1, 1}, and -1 means unlabeled (as in SelfTrainingClassifier)',
    'check_classifiers_train': 'the classifier B S_L has no intercept: it reaches 0.79 < 0.83 on the 3-blob data '
                               '(as LogisticRegression(fit_intercept=False)), one class with a rank-1 last layer',
    'check_decision_proba_consistency': 'its X has negative entries (it ignores the positive_only tag): NMF needs X >= 0',
}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import one_thread  # noqa: E402,F401 (an autouse fixture)


@parametrize_with_checks([NeuralNMF(ranks=[2], epochs=3, random_state=0),
                          NeuralNMF(ranks=[2, 1], epochs=3, random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
