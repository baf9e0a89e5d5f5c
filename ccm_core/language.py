"""Which language a customer writes in, from their words alone (a chat's first message, a mail).

Matching is on folded words (Turkish-aware lower case without diacritics), as customers type
"sikayet" as often as "şikayet".
"""

from __future__ import annotations

import re
import unicodedata

from ccm_core.i18n import LANGUAGES

_TURKISH_CAPITALS = str.maketrans({"İ": "i", "I": "ı"})
_SPECIAL = str.maketrans({"ı": "i", "ß": "ss"})


def fold(value: str) -> str:
    """Turkish-aware lower case without diacritics, for matching typed answers ("BEŞ" → "bes")."""
    lowered = value.translate(_TURKISH_CAPITALS).lower().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_WORDS = {
    "tr": """ve bir bu icin ile cok ama degil mi ne gibi var yok merhaba selam sikayet sikayetim siparis
        siparisim kargo kargom fatura faturam param hala gelmedi istiyorum nerede tesekkur tesekkurler
        lutfen evet hayir tamam ben benim bana neden daha sonra yardim urun urunum iade hesabim numaram
        gun hic memnun degilim oldu olmadi bekliyorum kimse cevap vermiyor musteri temsilci iyi gunler
        bes dort uc iki""",
    "en": """the and is my i to it of a not was have has with for please hello hi hey complaint order where
        yes no thanks thank you didnt never been still arrived broken charged refund nobody answers want
        about this that there what when why how can could would should good morning evening one two
        three four five""",
    "de": """der die das und ist ich nicht mein meine mit ein eine auf fur bitte hallo beschwerde bestellung
        wo ja nein danke noch wurde habe keine sie zu es bei mir mich ihr sind war kein gibt warum wann
        wie guten tag morgen paket rechnung geld zuruck erstattung niemand immer schon eins zwei drei
        vier funf""",
}
_VOCABULARY = {language: set(words.split()) for language, words in _WORDS.items()}
_LETTERS = {"tr": "şğıİçŞĞÇ", "de": "äßÄ"}
TOKEN = re.compile(r"[^\W\d_]+")


def detect_language(message: str) -> str | None:
    """tr, en or de from the words and letters of ``message``; None when it gives no clue ("5", "ok")."""
    scores = dict.fromkeys(LANGUAGES, 0.0)
    for token in TOKEN.findall(message):
        folded = fold(token)
        for language, vocabulary in _VOCABULARY.items():
            if folded in vocabulary:
                scores[language] += 1
    for language, letters in _LETTERS.items():
        scores[language] += 1.5 * sum(message.count(letter) for letter in letters)
    best = max(scores, key=scores.__getitem__)
    runner_up = max(score for language, score in scores.items() if language != best)
    return best if scores[best] > runner_up else None
