"""The assistant's Rasa project as admins see it: which intents it knows, its examples per language.

Reviewed examples are written to ``data/nlu/reviewed_<language>.yml``, next to the hand-written
training data (``<language>.yml`` and files by topic, ``<topic>_<language>.yml``), and intents
admins created go to ``domain/learned.yml`` (the intent and its
answer in each language) and ``data/rules/learned.yml`` (answer it when it is recognised).
Rasa's own YAML format, so ``rasa data validate`` and ``rasa train`` read them as they are.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer.teaching import Example, IntentView

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROJECT = ROOT / "rasa_project"
# Intents no customer types (the product triggers them) or that Rasa predicts itself.
NOT_TEACHABLE_PREFIXES = ("EXTERNAL_", "nlu_")
LEARNED_DOMAIN = "learned.yml"
LEARNED_RULES = "learned.yml"


def reviewed_file(language: str) -> str:
    return f"reviewed_{language}.yml"


def file_language(path: Path) -> str | None:
    """The language of a training file: its name's last part (``tr.yml``, ``out_of_scope_tr.yml``)."""
    language = path.stem.rsplit("_", 1)[-1]
    return language if language in LANGUAGES else None


class _Literal(str):
    """A block of examples written as Rasa writes them (``examples: |``)."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


@dataclass(frozen=True)
class AssistantProject:
    root: Path = DEFAULT_PROJECT

    @property
    def nlu_dir(self) -> Path:
        return self.root / "data" / "nlu"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval" / "nlu"

    def intents(self) -> list[str]:
        """The intents an admin may assign messages to, from the domain files."""
        found: set[str] = set()
        for path in sorted((self.root / "domain").glob("*.yml")):
            for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents") or []:
                name = next(iter(entry)) if isinstance(entry, dict) else str(entry)
                if not name.startswith(NOT_TEACHABLE_PREFIXES):
                    found.add(name)
        return sorted(found)

    def example_counts(self) -> dict[str, dict[str, int]]:
        """intent → language → training examples, hand-written and reviewed."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for path in sorted(self.nlu_dir.glob("*.yml")):
            language = file_language(path)
            if language is None:
                continue
            for intent, examples in _read_nlu(path).items():
                if not intent.startswith(NOT_TEACHABLE_PREFIXES):
                    counts[intent][language] += len(examples)
        return {intent: dict(per_language) for intent, per_language in sorted(counts.items())}

    def write_examples(self, examples: Iterable[Example]) -> int:
        """Add reviewed examples to ``reviewed_<language>.yml`` (repeats once); returns how many were new."""
        added = 0
        by_language: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            by_language[example.language].append(example)
        for language, new in by_language.items():
            path = self.nlu_dir / reviewed_file(language)
            current = _read_nlu(path)
            for example in new:
                texts = current.setdefault(example.intent, [])
                if example.text not in texts:
                    texts.append(example.text)
                    added += 1
            _write_nlu(
                path, current, f"Examples admins took from messages the assistant missed ({language})."
            )
        return added

    def write_learned_intents(self, intents: Iterable[IntentView]) -> None:
        """The intents admins created: in the domain with their answers, and a rule that gives the answer."""
        intents = sorted(intents, key=lambda intent: intent.name)
        domain_path = self.root / "domain" / LEARNED_DOMAIN
        rules_path = self.root / "data" / "rules" / LEARNED_RULES
        if not intents:
            domain_path.unlink(missing_ok=True)
            rules_path.unlink(missing_ok=True)
            return
        domain = {
            "version": "3.1",
            "intents": [intent.name for intent in intents],
            "responses": {f"utter_{intent.name}": _answers(intent.responses) for intent in intents},
        }
        rules = {
            "version": "3.1",
            "rules": [
                {
                    "rule": f"Answer {intent.name}",
                    "steps": [{"intent": intent.name}, {"action": f"utter_{intent.name}"}],
                }
                for intent in intents
            ],
        }
        header = "# Intents admins created in the console, with the assistant's answer in each language.\n"
        domain_path.write_text(header + yaml.safe_dump(domain, allow_unicode=True, sort_keys=False), "utf-8")
        rules_path.write_text(header + yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), "utf-8")


def _answers(responses: dict[str, str]) -> list[dict[str, Any]]:
    """One variant per language on the ``language`` slot; English answers when the slot is unset."""
    variants: list[dict[str, Any]] = [
        {"condition": [{"type": "slot", "name": "language", "value": language}], "text": responses[language]}
        for language in LANGUAGES
        if language != "en"
    ]
    return [*variants, {"text": responses["en"]}]


def _read_nlu(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    found: dict[str, list[str]] = {}
    for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        if "intent" in entry:
            lines = str(entry.get("examples") or "").splitlines()
            found.setdefault(entry["intent"], []).extend(
                line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")
            )
    return found


def _write_nlu(path: Path, intents: dict[str, list[str]], comment: str) -> None:
    entries = [
        {"intent": intent, "examples": _Literal("".join(f"- {text}\n" for text in texts))}
        for intent, texts in sorted(intents.items())
        if texts
    ]
    body = yaml.safe_dump({"version": "3.1", "nlu": entries}, allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(f"# {comment}\n{body}", encoding="utf-8")
