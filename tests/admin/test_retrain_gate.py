"""The retrain gate: a candidate is deployed only if no gated figure got worse in any language."""

from __future__ import annotations

from admin.training import compare, evaluation_table

IN_SERVICE = {
    "tr": {"examples": 176, "intent_macro_f1": 0.95, "complaint_recall": 0.93, "false_complaint_rate": 0.03},
    "de": {"examples": 176, "intent_macro_f1": 0.94, "complaint_recall": 0.97, "false_complaint_rate": 0.04},
}


def candidate(**changes: float) -> dict[str, dict[str, float]]:
    """The model in service's figures, with ``tr_<figure>=value`` changed."""
    figures = {language: dict(values) for language, values in IN_SERVICE.items()}
    for key, value in changes.items():
        language, figure = key.split("_", 1)
        figures[language][figure] = value
    return figures


def refusals(evaluation: dict[str, dict[str, float]]) -> list[str]:
    return [v.refusal for v in compare(evaluation, IN_SERVICE, 0.02) if not v.kept]


def test_every_figure_within_the_tolerance_is_kept() -> None:
    verdicts = compare(candidate(tr_intent_macro_f1=0.94, de_false_complaint_rate=0.055), IN_SERVICE, 0.02)
    assert [(v.language, v.gate.figure) for v in verdicts] == [
        ("de", "intent_macro_f1"),
        ("de", "complaint_recall"),
        ("de", "false_complaint_rate"),
        ("tr", "intent_macro_f1"),
        ("tr", "complaint_recall"),
        ("tr", "false_complaint_rate"),
    ]
    assert all(v.kept for v in verdicts)


def test_fewer_complaints_recognised_on_real_text_is_refused_though_f1_rose() -> None:
    assert refusals(candidate(tr_intent_macro_f1=0.99, tr_complaint_recall=0.88)) == [
        "tr: complaint recall 0.880 < 0.930 - 0.02"
    ]


def test_more_requests_taken_for_complaints_is_refused() -> None:
    assert refusals(candidate(de_false_complaint_rate=0.08)) == [
        "de: false-complaint rate 0.080 > 0.040 + 0.02"
    ]


def test_without_real_text_only_macro_f1_is_gated() -> None:
    held_out = {language: {"examples": 176, "intent_macro_f1": 0.9} for language in ("tr", "en")}
    verdicts = compare({**held_out, "en": {"examples": 176, "intent_macro_f1": 0.85}}, held_out, 0.02)
    assert [(v.language, v.gate.label, v.kept) for v in verdicts] == [
        ("en", "macro-F1", False),
        ("tr", "macro-F1", True),
    ]
    table = evaluation_table(verdicts)
    assert "| en | 176 | macro-F1 | 0.850 | 0.900 | -0.050 | worse by more than 0.02 |" in table


def test_a_figure_the_candidate_lacks_is_refused() -> None:
    evaluation = candidate()
    del evaluation["tr"]["complaint_recall"]
    assert refusals(evaluation) == ["tr: complaint recall: the candidate was not evaluated on this language"]
