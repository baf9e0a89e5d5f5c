"""Logistic regression on unit-length n-gram counts: a long message is judged by what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from components.intent_classifier import NormalisedLogisticRegressionClassifier
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

VOCABULARY = ["late", "parcel", "weather", "tomorrow", "the", "and", "a", "of"]


def message(counts: dict[str, int], intent: str | None = None, dense: list[float] | None = None) -> Message:
    """A message as the featurizers leave it: word counts (sparse) and a sentence vector (dense)."""
    row = scipy.sparse.coo_matrix([[counts.get(word, 0) for word in VOCABULARY]])
    found = Message(data={TEXT: " ".join(counts), **({"intent": intent} if intent else {})})
    found.add_features(Features(row, "sentence", TEXT, "counts"))
    found.add_features(Features(np.array([dense or [0.0, 0.0]]), "sentence", TEXT, "vector"))
    return found


def classifier(
    tmp_path: Path, context: ExecutionContext, **config: object
) -> NormalisedLogisticRegressionClassifier:
    return NormalisedLogisticRegressionClassifier.create(
        {**NormalisedLogisticRegressionClassifier.get_default_config(), "ranking_length": 0, **config},
        LocalModelStorage(tmp_path),
        Resource("classifier"),
        context,
    )


def test_counts_are_scaled_to_unit_length_beside_the_dense_vector(
    tmp_path: Path, context: ExecutionContext
) -> None:
    X = (
        classifier(tmp_path, context)
        ._create_X(
            [message({"late": 1}, dense=[0.5, 0.5]), message({"the": 40, "late": 3}, dense=[1.0, 0.0])]
        )
        .toarray()
    )
    assert X.shape == (2, len(VOCABULARY) + 2)
    assert np.allclose(np.linalg.norm(X[:, : len(VOCABULARY)], axis=1), 1.0)
    assert X[0, -2:].tolist() == [0.5, 0.5] and X[1, -2:].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("classifier_class", "intent"),
    [
        (LogisticRegressionClassifier, "out_of_scope"),
        (NormalisedLogisticRegressionClassifier, "complaint_delivery"),
    ],
)
def test_a_long_message_keeps_the_sentence_vectors_say(
    tmp_path: Path, context: ExecutionContext, classifier_class: type, intent: str
) -> None:
    """Raw counts of 40 common words drown the sentence vector, which alone says "complaint" here."""
    training = [
        *(message({"the": 1}, "complaint_delivery", dense=[1.0, 0.0]) for _ in range(5)),
        *(message({"the": 1, "and": 1}, "out_of_scope", dense=[0.0, 1.0]) for _ in range(5)),
    ]
    component = classifier_class.create(
        {**classifier_class.get_default_config(), "ranking_length": 0},
        LocalModelStorage(tmp_path),
        Resource("classifier"),
        context,
    )
    component.train(TrainingData(training_examples=training))
    long_complaint = message({"the": 20, "and": 20}, dense=[1.0, 0.0])

    component.process([long_complaint])

    assert long_complaint.get("intent")["name"] == intent


def test_c_is_configurable_and_survives_persisting(tmp_path: Path, context: ExecutionContext) -> None:
    component = classifier(tmp_path, context, C=7.5)
    component.train(
        TrainingData(
            training_examples=[
                message({"late": 1}, "complaint_delivery"),
                message({"weather": 1}, "out_of_scope"),
            ]
        )
    )
    loaded = NormalisedLogisticRegressionClassifier.load(
        component.config, LocalModelStorage(tmp_path), Resource("classifier"), context
    )
    assert loaded.clf.get_params()["C"] == 7.5
    assert list(loaded.clf.classes_) == ["complaint_delivery", "out_of_scope"]


def test_a_non_positive_c_is_refused() -> None:
    with pytest.raises(ValueError, match="C must be positive"):
        NormalisedLogisticRegressionClassifier.validate_config({"C": 0})
