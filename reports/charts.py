"""The report's charts, drawn once with matplotlib: PNG for the PDF, SVG to inline in the HTML.

Figures are built without pyplot (no global state, no display), so the worker can render in
a thread. DejaVu Sans, which ships with matplotlib, has ğ, ş, İ, ı and the umlauts; the SVG
keeps text as paths, so the HTML needs no font either.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ccm_core.service_layer.report import MonthlyReport
from reports.texts import Texts

FONT = "DejaVu Sans"
PALETTE = ("#1f5fa8", "#e07b24", "#2e9c5a", "#c23b3b", "#7b4fb0", "#8c6d31", "#d45f9a", "#5a6b7a")
SIZE = (7.0, 3.2)  # inches: fits the PDF's text width at a readable scale
PNG_DPI = 160
STYLE = {
    "font.family": FONT,
    "font.size": 9,
    "svg.fonttype": "path",
    "svg.hashsalt": "ccm-report",  # stable ids: the same report gives the same HTML
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    png: bytes
    svg: str  # an <svg> element, ready to inline


def monthly_charts(report: MonthlyReport, texts: Texts) -> list[Chart]:
    """Every chart of the report, in the order the report shows them."""
    channels = {texts.channel(code): n for code, n in report.by_channel.items()}
    categories = {texts.category(report, code): n for code, n in report.by_category.items()}
    departments = {texts.department(report, code): n for code, n in report.by_department.items()}
    with matplotlib.rc_context(STYLE):
        return [
            _volume(texts, "by_channel", channels),
            _volume(texts, "by_category", categories),
            _volume(texts, "by_department", departments),
            _durations(report, texts),
            _sla(report, texts),
            _csat(report, texts),
            _recurring(report, texts),
        ]


def _volume(texts: Texts, key: str, counts: dict[str, int]) -> Chart:
    figure, axes = _figure()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if _empty([n for _, n in ordered]):
        return _no_data(figure, axes, key, texts(f"volume.{key}"), texts)
    labels = [label for label, _ in ordered][::-1]
    values = [value for _, value in ordered][::-1]
    bars = axes.barh(labels, values, color=PALETTE[0])
    axes.bar_label(bars, labels=[texts.number(v) for v in values], padding=3)
    axes.set_xlabel(texts("volume.complaints"))
    _integer_ticks(axes, "x")
    return _chart(figure, axes, key, texts(f"volume.{key}"))


def _durations(report: MonthlyReport, texts: Texts) -> Chart:
    figure, axes = _figure()
    title = texts("durations.heading")
    spans = {
        "to_acknowledge": report.to_acknowledge,
        "to_decide": report.to_decide,
        "to_close": report.to_close,
    }
    if all(span.median_hours is None for span in spans.values()):
        return _no_data(figure, axes, "durations", title, texts)
    labels = [texts(f"durations.{key}") for key in spans]
    medians = [span.median_hours or 0.0 for span in spans.values()]
    p90s = [span.p90_hours or 0.0 for span in spans.values()]
    series = [(texts("durations.median"), medians), (texts("durations.p90"), p90s)]
    _grouped(axes, labels, series, texts.hours)
    return _chart(figure, axes, "durations", title)


def _sla(report: MonthlyReport, texts: Texts) -> Chart:
    figure, axes = _figure()
    title = texts("sla.heading")
    steps = [step for step in report.sla if step.due]
    if not steps:
        return _no_data(figure, axes, "sla", title, texts)
    labels = [texts.step(step.step) for step in steps][::-1]
    shares = [(step.compliance or 0.0) * 100 for step in steps][::-1]
    colours = [PALETTE[2] if share >= 90 else PALETTE[1] if share >= 75 else PALETTE[3] for share in shares]
    bars = axes.barh(labels, shares, color=colours)
    axes.bar_label(bars, labels=[texts.percent(share / 100) for share in shares], padding=3)
    axes.set_xlim(0, 115)
    axes.set_xticks([0, 25, 50, 75, 100], [texts.percent(tick / 100) for tick in (0, 25, 50, 75, 100)])
    return _chart(figure, axes, "sla", title)


def _csat(report: MonthlyReport, texts: Texts) -> Chart:
    figure, axes = _figure()
    title = texts("satisfaction.csat_distribution")
    scores = [1, 2, 3, 4, 5]
    answers = [report.csat_distribution.get(score, 0) for score in scores]
    if _empty(answers):
        return _no_data(figure, axes, "csat", title, texts)
    colours = [PALETTE[3], PALETTE[1], "#b8b8b8", PALETTE[2], "#1c7a43"]
    bars = axes.bar([str(score) for score in scores], answers, color=colours)
    axes.bar_label(bars, labels=[texts.number(n) for n in answers], padding=2)
    axes.set_xlabel(texts("satisfaction.score"))
    axes.set_ylabel(texts("satisfaction.answers"))
    _integer_ticks(axes, "y")
    return _chart(figure, axes, "csat", title)


def _recurring(report: MonthlyReport, texts: Texts) -> Chart:
    figure, axes = _figure()
    title = texts("recurring.chart")
    if not report.recurring:
        return _no_data(figure, axes, "recurring", title, texts)
    labels = [texts.category(report, trend.category) for trend in report.recurring]
    series = [
        (texts("recurring.last_month"), [float(trend.last_month) for trend in report.recurring]),
        (texts("recurring.this_month"), [float(trend.this_month) for trend in report.recurring]),
    ]
    _grouped(axes, labels, series, texts.number)
    _integer_ticks(axes, "y")
    return _chart(figure, axes, "recurring", title)


# --- drawing helpers ---


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _grouped(
    axes: Axes,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    label_of: Callable[[float], str],
) -> None:
    """Bars side by side per label, one colour per series, each bar labelled with its value.

    With many labels the values stand upright and the labels slant, so neither runs into the next.
    """
    crowded = len(labels) > 4
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
        bars = axes.bar(positions, values, width, label=name, color=PALETTE[index])
        axes.bar_label(
            bars,
            labels=[label_of(value) for value in values],
            padding=2,
            fontsize=6.5 if crowded else 8,
            rotation=90 if crowded else 0,
        )
    axes.set_xticks(range(len(labels)), labels)
    if crowded:
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
    axes.margins(y=0.25 if crowded else 0.15)
    axes.legend(frameon=False)


def _integer_ticks(axes: Axes, axis: str) -> None:
    (axes.xaxis if axis == "x" else axes.yaxis).set_major_locator(MaxNLocator(integer=True))


def _empty(values: Sequence[float]) -> bool:
    return not any(values)


def _no_data(figure: Figure, axes: Axes, key: str, title: str, texts: Texts) -> Chart:
    axes.set_axis_off()
    axes.text(0.5, 0.5, texts("no_data"), ha="center", va="center", fontsize=14, color="#777777")
    return _chart(figure, axes, key, title)


def _chart(figure: Figure, axes: Axes, key: str, title: str) -> Chart:
    axes.set_title(title, loc="left", fontweight="bold")
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=PNG_DPI)
    svg = io.StringIO()
    figure.savefig(svg, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return Chart(key, title, png.getvalue(), _inline(svg.getvalue()))


def _inline(document: str) -> str:
    """The <svg> element alone: no XML declaration or DOCTYPE (which names an external DTD)."""
    return document[document.index("<svg") :]
