"""How well the assistant understands: our held-out examples, and real customers' words.

Runs in the Rasa environment: ``make nlu-eval``. Every message goes through the whole NLU
pipeline, the complaint decision and the fallback included, so the figures are what the
dialogue acts on.

* Held-out examples (``--data``, one file per language, never trained on): intent accuracy and
  macro-F1, category macro-F1 on the complaints. ``nlu_fallback`` counts as wrong.
* Real text (``--realtext``, CSV files with ``text,language,label,source,topic``; ``label`` is
  ``complaint`` or ``other``; a set is a file, or each language and label in it): real customers'
  complaints and real requests of other kinds, for evaluation only. A message is taken as a complaint when the
  intent the assistant acts on is ``file_complaint`` or a ``complaint_*`` topic. Per set:
  complaint recall (complaint sets) or false-complaint rate (other sets); category accuracy where
  the source's own topic maps to one of ours (``TOPIC_CATEGORIES``; rows of unmapped topics are
  left out); calibration: how often the complaint-or-not decision is right, by the confidence it
  was taken with (the complaint topics' summed probability, or one minus it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import logging
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.agent import Agent
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.utils.log_utils import configure_structlog
from sklearn.metrics import f1_score

COMPLAINT = "complaint_"
ANNOUNCEMENT = "file_complaint"
NO_CATEGORY = "-"
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# The source's own topic (its last part after ":") → our category, where the meaning is the same.
TOPIC_CATEGORIES = {
    "Customer Service Issue": "service_quality",
    "Late Flight": "service_quality",
    "Cancelled Flight": "service_quality",
    "Bad Flight": "service_quality",
    "longlines": "service_quality",
    "Lost Luggage": "delivery",
    "Damaged Luggage": "delivery",
    "Flight Attendant Complaints": "staff_conduct",
}


def is_complaint(intent: str) -> bool:
    return intent == ANNOUNCEMENT or intent.startswith(COMPLAINT)


def category(intent: str) -> str:
    return intent.removeprefix(COMPLAINT) if intent.startswith(COMPLAINT) else NO_CATEGORY


@dataclass(frozen=True)
class Parsed:
    intent: str
    complaint_probability: float  # the complaint intents' summed probability


async def _parse_all(agent: Agent, texts: list[str]) -> list[Parsed]:
    parsed = []
    for text in texts:
        result = await agent.parse_message(text)
        ranking = result.get("intent_ranking") or []
        summed = sum(r["confidence"] for r in ranking if is_complaint(r["name"]))
        parsed.append(Parsed(result["intent"]["name"], min(summed, 1.0)))
    return parsed


def parse(agent: Agent, texts: list[str]) -> list[Parsed]:
    return asyncio.run(_parse_all(agent, texts))


def evaluate_heldout(agent: Agent, path: Path) -> dict[str, Any]:
    examples = [e for e in load_data(str(path)).intent_examples if not e.get(INTENT).startswith("EXTERNAL_")]
    gold = [e.get(INTENT) for e in examples]
    predicted = [p.intent for p in parse(agent, [e.get(TEXT) for e in examples])]
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


@dataclass(frozen=True)
class Row:
    text: str
    language: str
    complaint: bool
    topic: str


def read_realtext(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Row(r["text"], r["language"], r["label"] == "complaint", r.get("topic") or "")
            for r in csv.DictReader(handle)
        ]


def evaluate_set(agent: Agent, rows: list[Row]) -> dict[str, Any]:
    """One set's figures, and the (confidence, right) pairs for calibration."""
    parsed = parse(agent, [row.text for row in rows])
    taken = [is_complaint(p.intent) for p in parsed]
    mapped = [
        (TOPIC_CATEGORIES[row.topic.rsplit(":", 1)[-1]], p.intent)
        for row, p in zip(rows, parsed, strict=True)
        if row.topic.rsplit(":", 1)[-1] in TOPIC_CATEGORIES
    ]
    return {
        "rows": len(rows),
        "label": "complaint" if rows[0].complaint else "other",
        "language": rows[0].language,
        "taken_as_complaint": sum(taken) / len(rows),
        "fallbacks": sum(p.intent == "nlu_fallback" for p in parsed),
        "category_rows": len(mapped),
        "category_accuracy": (
            sum(category(intent) == wanted for wanted, intent in mapped) / len(mapped) if mapped else None
        ),
        "decisions": [
            (p.complaint_probability if t else 1 - p.complaint_probability, t == row.complaint)
            for p, t, row in zip(parsed, taken, rows, strict=True)
        ],
    }


def calibration(decisions: Iterable[tuple[float, bool]]) -> dict[str, Any]:
    """Accuracy per confidence bin, and the expected calibration error (the bins' weighted gaps)."""
    decisions = list(decisions)
    bins: list[dict[str, Any]] = []
    edges = (0.0, *BINS)
    for low, high in itertools.pairwise(edges):
        inside = [(c, right) for c, right in decisions if low <= c < high or (high == 1.0 and c == 1.0)]
        if inside:
            bins.append(
                {
                    "from": low,
                    "to": high,
                    "n": len(inside),
                    "confidence": sum(c for c, _ in inside) / len(inside),
                    "accuracy": sum(right for _, right in inside) / len(inside),
                }
            )
    error = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / max(len(decisions), 1)
    return {"bins": bins, "expected_calibration_error": error}


def real_sets(folder: Path) -> dict[str, list[Row]]:
    """The CSV files' rows by set: a file of one language and label is a set, else each of its parts."""
    found: dict[str, list[Row]] = {}
    for path in sorted(folder.glob("*.csv")):
        parts: dict[tuple[str, bool], list[Row]] = defaultdict(list)
        for row in read_realtext(path):
            parts[row.language, row.complaint].append(row)
        for (language, complaint), rows in parts.items():
            label = "complaint" if complaint else "other"
            found[path.stem if len(parts) == 1 else f"{path.stem} ({language}, {label})"] = rows
    return found


def evaluate_realtext(agent: Agent, folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per set, and per language: complaint recall, false-complaint rate, calibration."""
    sets = {name: evaluate_set(agent, rows) for name, rows in real_sets(folder).items()}
    languages: dict[str, dict[str, Any]] = defaultdict(dict)
    decisions: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for figures in sets.values():
        key = "complaint_recall" if figures["label"] == "complaint" else "false_complaint_rate"
        language = languages[figures["language"]]
        rows = language.get(f"{figures['label']}_rows", 0)
        # Several sets of one label in one language: weighted by their rows.
        language[key] = (language.get(key, 0) * rows + figures["taken_as_complaint"] * figures["rows"]) / (
            rows + figures["rows"]
        )
        language[f"{figures['label']}_rows"] = rows + figures["rows"]
        decisions[figures["language"]] += figures.pop("decisions")
    for language, pairs in decisions.items():
        languages[language]["calibration"] = calibration(pairs)
    return sets, dict(languages)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(heldout: dict[str, Any], sets: dict[str, Any], languages: dict[str, Any]) -> list[str]:
    lines = [
        "Held-out examples (our own, never trained on)",
        "",
        "| Language | Examples | Intent accuracy | Intent macro-F1 | Complaints | Category macro-F1 "
        "| Fallbacks |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {language} | {r['examples']} | {r['intent_accuracy']:.3f} | {r['intent_macro_f1']:.3f} "
        f"| {r['complaints']} | {r['category_macro_f1']:.3f} | {r['fallbacks']} |"
        for language, r in heldout.items()
    ]
    if not sets:
        return lines
    lines += [
        "",
        "Real text (evaluation only)",
        "",
        "| Set | Rows | Taken as complaint | Fallbacks | Category accuracy (rows) |",
        "|---|---|---|---|---|",
    ]
    for name, r in sets.items():
        mapped = f"{_share(r['category_accuracy'])} ({r['category_rows']})" if r["category_rows"] else "-"
        lines.append(
            f"| {name} | {r['rows']} | {r['taken_as_complaint']:.3f} | {r['fallbacks']} | {mapped} |"
        )
    lines += [
        "",
        "| Language | Complaint recall | False-complaint rate | Calibration error |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {language} | {_share(r.get('complaint_recall'))} | {_share(r.get('false_complaint_rate'))} "
        f"| {r['calibration']['expected_calibration_error']:.3f} |"
        for language, r in sorted(languages.items())
    ]
    lines += [
        "",
        "Calibration: how often the complaint-or-not decision is right, by its confidence",
        "",
        "| Language | Confidence | Messages | Mean confidence | Right |",
        "|---|---|---|---|---|",
    ]
    for language, r in sorted(languages.items()):
        lines += [
            f"| {language} | {b['from']:.1f}–{b['to']:.1f} | {b['n']} | {b['confidence']:.3f} "
            f"| {b['accuracy']:.3f} |"
            for b in r["calibration"]["bins"]
        ]
    return lines


def shortfalls(
    heldout: dict[str, Any], languages: dict[str, Any], f1: float, recall: float, false_rate: float
) -> list[str]:
    found = [
        f"{language}: intent macro-F1 {r['intent_macro_f1']:.3f} < {f1}"
        for language, r in heldout.items()
        if r["intent_macro_f1"] < f1
    ]
    for language, r in sorted(languages.items()):
        if r.get("complaint_recall", 1.0) < recall:
            found.append(f"{language}: complaint recall {r['complaint_recall']:.3f} < {recall}")
        if r.get("false_complaint_rate", 0.0) > false_rate:
            found.append(f"{language}: false-complaint rate {r['false_complaint_rate']:.3f} > {false_rate}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="eval/nlu", help="folder with one held-out file per language")
    parser.add_argument("--realtext", help="folder of real-text CSV files (evaluation only)")
    parser.add_argument("--target", type=float, default=0.93, help="lowest acceptable intent macro-F1")
    parser.add_argument("--recall", type=float, default=0.90, help="lowest acceptable complaint recall")
    parser.add_argument(
        "--false-rate", type=float, default=0.05, help="highest acceptable false-complaint rate"
    )
    parser.add_argument("--out", help="also write the figures per language as JSON here")
    args = parser.parse_args()
    configure_structlog(logging.WARNING)  # Rasa's debug log would print every evaluated text
    agent = Agent.load(args.model)
    heldout = {path.stem: evaluate_heldout(agent, path) for path in sorted(Path(args.data).glob("*.yml"))}
    sets: dict[str, Any] = {}
    languages: dict[str, Any] = {}
    if args.realtext:
        folder = Path(args.realtext)
        if any(folder.glob("*.csv")):
            sets, languages = evaluate_realtext(agent, folder)
        else:
            print(f"No real text in {folder} (it is not on this machine): held-out examples only.\n")
    print("\n".join(report(heldout, sets, languages)))
    if args.out:
        figures = {language: {**r, **languages.get(language, {})} for language, r in heldout.items()}
        Path(args.out).write_text(json.dumps(figures, indent=2))
    below = shortfalls(heldout, languages, args.target, args.recall, args.false_rate)
    if below:
        print("\nBelow target: " + "; ".join(below))
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
