"""scikit-learn's estimator checks on `NeuralNMF` (scikit-learn is installed by the dev extra)."""
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from neural_nmf.estimator import NeuralNMF

torch.set_num_threads(1)


@parametrize_with_checks([NeuralNMF(ranks=[2], epochs=3, random_state=0),
                          NeuralNMF(ranks=[2, 1], epochs=3, random_state=0, )])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
