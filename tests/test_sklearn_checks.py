"""scikit-learn's estimator checks (`parametrize_with_checks`) on `NeuralNMF`; scikit-learn comes with the dev extra.

Two small configurations: one layer, and two layers with the default hierarchical-NMF start. Every check passes,
so no `expected_failed_checks` are declared; `check_array_api_input` is skipped by scikit-learn itself unless
SCIPY_ARRAY_API=1 is set (NeuralNMF does not declare array API support).
"""
import sys
from pathlib import Path

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neural_nmf.estimator import NeuralNMF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import one_thread  # noqa: E402,F401 (an autouse fixture)


@parametrize_with_checks([NeuralNMF(ranks=[2], epochs=3, random_state=0),
                          NeuralNMF(ranks=[2, 1], epochs=3, random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
