"""A whitespace tokenizer whose tokens are folded for matching across spellings.

Customers write "Şikayet", "ŞİKAYET", "sikayet" and "şıkayet" for the same word, and
"Beschwerde über", "beschwerde ueber" in German. Python's ``str.lower`` turns "İ" into
"i̇" and "I" into "i", which is wrong for Turkish; folding lower-cases Turkish-aware and
then drops diacritics, so every spelling becomes one feature. Token offsets stay those of
the original text, so entities keep their original spelling.
"""

from __future__ import annotations

import unicodedata

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

_TURKISH_CAPITALS = str.maketrans({"İ": "i", "I": "ı"})
_SPECIAL = str.maketrans({"ı": "i", "ß": "ss", "æ": "ae", "ø": "o"})


def fold(text: str) -> str:
    """Lower-case the Turkish way, then strip accents: "İŞ" → "is", "Iğdır" → "igdir", "Größe" → "grosse"."""
    lowered = text.translate(_TURKISH_CAPITALS).lower().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FoldingWhitespaceTokenizer(WhitespaceTokenizer):
    """``WhitespaceTokenizer`` with folded token texts (see ``fold``)."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.text = fold(token.text)
            token.lemma = token.text
        return tokens
