"""Rasa's logistic regression, with each message's n-gram counts scaled to unit length.

``LogisticRegressionClassifier`` (Rasa 3.6) stacks the raw counts of the sparse featurizers
beside the dense features. Raw counts grow with the message, the sentence vector beside them
does not: in a complaint of 80 words (a complaint-site post, a review) hundreds of n-gram
counts drown the one part that knows language, and the words seen most in our most varied
intent, ``out_of_scope``, carried long complaints off as "something else". Scaled to unit
length, the n-grams say what a message is about, not how long it is, and the sentence vector
(unit length times its ``scale``) keeps its say. The regularisation strength is configurable
too (``C``; Rasa fixes it at 1.0). Both were chosen by cross-validation per language
(``eval/choose_pipeline.py``).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.preprocessing import normalize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NormalisedLogisticRegressionClassifier(LogisticRegressionClassifier):
    """``LogisticRegressionClassifier`` on unit-length n-gram counts, with a configurable ``C``."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if not float(config.get("C", 1.0)) > 0:
            raise ValueError(f"C must be positive, not {config['C']!r}")

    def __init__(
        self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=float(self.config["C"]))

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        rows = []
        for message in messages:
            sparse = message.get_sparse_features(attribute=TEXT)[1]
            dense = message.get_dense_features(attribute=TEXT)[1]
            counts = normalize(csr_matrix(sparse.features, dtype=float)) if sparse else csr_matrix((1, 0))
            rows.append(hstack([counts, csr_matrix(dense.features if dense else (1, 0))]))
        return vstack(rows).tocsr()
