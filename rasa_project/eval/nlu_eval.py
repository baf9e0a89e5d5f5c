"""Intent and category F1 per language on the held-out examples (never trained on).

Runs in the Rasa environment: ``make nlu-eval``. A message the model is not sure about
(``nlu_fallback``) counts as wrong. Category F1 is measured on the held-out complaints:
the category is the topic of the predicted ``complaint_<category>`` intent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rasa.core.agent import Agent
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from sklearn.metrics import f1_score

COMPLAINT = "complaint_"
NO_CATEGORY = "-"


async def predict(agent: Agent, texts: list[str]) -> list[str]:
    return [(await agent.parse_message(text))["intent"]["name"] for text in texts]


def category(intent: str) -> str:
    return intent.removeprefix(COMPLAINT) if intent.startswith(COMPLAINT) else NO_CATEGORY


def evaluate(agent: Agent, path: Path) -> dict[str, float | int]:
    examples = [e for e in load_data(str(path)).intent_examples if not e.get(INTENT).startswith("EXTERNAL_")]
    gold = [e.get(INTENT) for e in examples]
    predicted = asyncio.run(predict(agent, [e.get(TEXT) for e in examples]))
    complaints = [i for i, intent in enumerate(gold) if intent.startswith(COMPLAINT)]
    gold_categories = [category(gold[i]) for i in complaints]
    predicted_categories = [category(predicted[i]) for i in complaints]
    return {
        "examples": len(gold),
        "intent_accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold),
        "intent_macro_f1": f1_score(
            gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0
        ),
        "complaints": len(complaints),
        "category_macro_f1": f1_score(
            gold_categories,
            predicted_categories,
            labels=sorted(set(gold_categories)),
            average="macro",
            zero_division=0,
        ),
        "fallbacks": predicted.count("nlu_fallback"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="eval/nlu", help="folder with one held-out file per language")
    parser.add_argument("--target", type=float, default=0.90, help="lowest acceptable intent macro-F1")
    parser.add_argument("--out", help="also write the figures as JSON here")
    args = parser.parse_args()
    agent = Agent.load(args.model)
    results = {path.stem: evaluate(agent, path) for path in sorted(Path(args.data).glob("*.yml"))}
    print(
        "| Language | Held-out examples | Intent accuracy | Intent macro-F1 "
        "| Complaints | Category macro-F1 | Fallbacks |"
    )
    print("|---|---|---|---|---|---|---|")
    for language, r in results.items():
        print(
            f"| {language} | {r['examples']} | {r['intent_accuracy']:.3f} | {r['intent_macro_f1']:.3f} "
            f"| {r['complaints']} | {r['category_macro_f1']:.3f} | {r['fallbacks']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    below = [language for language, r in results.items() if r["intent_macro_f1"] < args.target]
    if below:
        print(f"Intent macro-F1 below {args.target} in: {', '.join(below)}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
