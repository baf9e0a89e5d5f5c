"""The assistant is never trained on what it is measured on.

Its figures come from held-out examples (``rasa_project/eval/nlu``) and from real customers' text
(``CCM_REALTEXT_DIR``, by default ``../shared/data/realtext`` beside the repository, where the
team keeps it; it is never copied into the repository). An evaluation text that appears in the
training data, exactly or as the start of a longer example, would make the figures a lie.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import yaml

from actions.conversation import fold

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "rasa_project" / "data" / "nlu"
HELD_OUT = ROOT / "rasa_project" / "eval" / "nlu"
REALTEXT = Path(os.environ.get("CCM_REALTEXT_DIR") or ROOT.parent / "shared" / "data" / "realtext")
PREFIX = 40  # characters of a long evaluation text that must not open or sit in a training example
_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def normalised(text: str) -> str:
    """Case, accents, punctuation and spacing do not make a text new."""
    return " ".join(re.findall(r"\w+", fold(_ENTITY.sub(r"\1", text))))


def nlu_examples(folder: Path) -> list[str]:
    texts = []
    for path in sorted(folder.glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            lines = str(entry.get("examples") or "").splitlines()
            texts += [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
    return texts


def real_texts() -> list[str]:
    texts = []
    for path in sorted(REALTEXT.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
    return texts


def test_no_evaluation_text_is_in_the_training_data() -> None:
    training = {normalised(text) for text in nlu_examples(TRAINING)}
    joined = "\n" + "\n".join(sorted(training)) + "\n"
    evaluation = [normalised(text) for text in nlu_examples(HELD_OUT) + real_texts()]
    assert len(training) > 5000 and len(evaluation) >= 500

    copied = [text for text in evaluation if text in training]
    started = [text for text in evaluation if len(text) >= PREFIX and text[:PREFIX] in joined]
    assert not copied, f"{len(copied)} evaluation texts are training examples, e.g. {copied[0]!r}"
    assert not started, f"{len(started)} evaluation texts open a training example, e.g. {started[0]!r}"


def test_the_check_sees_the_real_text_where_the_team_keeps_it() -> None:
    """On the team's machines the real text is there; elsewhere the held-out examples are checked alone."""
    if (ROOT.parent / "shared" / "data" / "realtext").is_dir() or "CCM_REALTEXT_DIR" in os.environ:
        assert len(real_texts()) >= 1000, f"no real text read from {REALTEXT}"
