"""The multilingual sentence vector: from the package, of unit length, alike across tr, en and de."""

from __future__ import annotations

import numpy as np
import pytest
from components.sentence_encoder import DIMENSIONS, MultilingualSentenceEncoder, encode
from rasa.engine.graph import ExecutionContext
from rasa.engine.training import fingerprinting
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# The same complaint in three languages, and two requests that are no complaint at all.
PARCEL = {
    "tr": "Kargom iki haftadır gelmedi",
    "en": "My parcel still hasn't arrived after two weeks",
    "de": "Mein Paket ist nach zwei Wochen immer noch nicht da",
}
UNRELATED = ["Wie wird das Wetter morgen in Hamburg?", "play some jazz in the kitchen"]


def featurizer(context: ExecutionContext, **config: object) -> MultilingualSentenceEncoder:
    return MultilingualSentenceEncoder(
        {**MultilingualSentenceEncoder.get_default_config(), **config}, context
    )


def test_vectors_have_unit_length_and_an_empty_text_or_a_payload_has_none() -> None:
    texts = ["Faturam yanlış geldi", "", "   ", '/inform{"category":"billing"}', "The invoice is wrong"]
    vectors = encode(texts)  # the model loaded from the package
    assert vectors.shape == (5, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors[[0, 4]], axis=1), 1.0, atol=1e-3)
    assert not vectors[1:4].any()


def test_translations_are_nearer_each_other_than_unrelated_requests() -> None:
    parcel = encode(list(PARCEL.values()))
    unrelated = encode(UNRELATED)
    for i, language in enumerate(PARCEL):
        same = [float(parcel[i] @ parcel[j]) for j in range(len(PARCEL)) if j != i]
        other = [float(parcel[i] @ vector) for vector in unrelated]
        assert min(same) > max(other) + 0.05, (language, same, other)


def test_messages_get_scaled_sentence_features_and_no_sequence_features(context: ExecutionContext) -> None:
    with_text = Message(data={TEXT: PARCEL["de"]})
    without_text = Message(data={"intent": "greet"})

    featurizer(context, scale=3.0).process([with_text, without_text])

    sequence, sentence = with_text.get_dense_features(TEXT)
    assert sequence is None
    assert sentence.features.shape == (1, DIMENSIONS)
    assert np.linalg.norm(sentence.features) == pytest.approx(3.0, abs=1e-2)
    assert without_text.features == []


def test_training_examples_are_featurized(context: ExecutionContext) -> None:
    examples = [Message(data={TEXT: text, "intent": "complaint_delivery"}) for text in PARCEL.values()]
    featurizer(context).process_training_data(TrainingData(training_examples=examples))
    assert all(m.get_dense_features(TEXT)[1].features.shape == (1, DIMENSIONS) for m in examples)


@pytest.mark.parametrize("config", [{"scale": 0}, {"scale": -1.0}, {"threads": 0}])
def test_a_wrong_configuration_is_refused(context: ExecutionContext, config: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(config))):
        featurizer(context, **config)


def test_the_training_cache_knows_the_encoders_version() -> None:
    """Rasa keys cached features by package versions: it must find the encoder's distribution."""
    key = fingerprinting.calculate_fingerprint_key(
        MultilingualSentenceEncoder, MultilingualSentenceEncoder.get_default_config(), {}
    )
    assert key
