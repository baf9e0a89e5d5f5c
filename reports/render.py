"""The monthly management report as files: a PDF to read and post, an HTML page, a CSV of the figures.

The PDF and the HTML show the same sections (built once by ``_sections``); the CSV keeps codes
and dot decimals so management can load it into a spreadsheet whatever the report's language.
Each file is written aside and moved into place, so a reader never picks up half a report.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ccm_core.service_layer.report import Durations, MonthlyReport
from reports.charts import SIZE, Chart, monthly_charts
from reports.texts import Texts

TEMPLATES = Path(__file__).with_name("templates")
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
MARGIN = 18 * mm
TEXT_WIDTH = A4[0] - 2 * MARGIN
CHART_WIDTH = TEXT_WIDTH
CHART_HEIGHT = CHART_WIDTH * SIZE[1] / SIZE[0]
INK, MUTED, RULE, HEADER_FILL = (
    colors.HexColor("#1d2733"),
    colors.HexColor("#5a6b7a"),
    colors.HexColor("#c9d1da"),
    colors.HexColor("#eef2f6"),
)


@dataclass(frozen=True)
class ReportFiles:
    pdf: Path
    html: Path
    csv: Path

    def as_dict(self) -> dict[str, str]:
        return {"pdf": str(self.pdf), "html": str(self.html), "csv": str(self.csv)}


@dataclass(frozen=True)
class FigureTable:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    heading: str
    tables: list[FigureTable] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    note: str | None = None
    new_page: bool = True  # in the PDF


def write_monthly_report(report: MonthlyReport, language: str, directory: Path) -> ReportFiles:
    """Write ``ccm-report-<month>-<language>.pdf``, ``.html`` and ``.csv`` into ``directory``."""
    texts = Texts(language)
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"ccm-report-{report.month}-{language}"
    files = ReportFiles(stem.with_suffix(".pdf"), stem.with_suffix(".html"), stem.with_suffix(".csv"))
    charts = monthly_charts(report, texts)
    sections = _sections(report, texts, {chart.key: chart for chart in charts})
    _write(files.pdf, _pdf(report, texts, sections))
    _write(files.html, _html(report, texts, sections).encode("utf-8"))
    _write(files.csv, _csv(report).encode("utf-8"))
    return files


def sla_compliance(report: MonthlyReport) -> float | None:
    """Deadlines met in time over all deadlines that fell in the month, every step together."""
    due = sum(step.due for step in report.sla)
    return sum(step.met_in_time for step in report.sla) / due if due else None


def key_figures(report: MonthlyReport, texts: Texts) -> list[tuple[str, str]]:
    """The figures management looks at first: the title page, and the Slack message picks from them."""
    return [
        (texts("key.received"), texts.number(report.received)),
        (texts("key.justified_rate"), texts.percent(report.justified_rate)),
        (texts("key.median_to_close"), texts.hours(report.to_close.median_hours)),
        (texts("key.sla_compliance"), texts.percent(sla_compliance(report))),
        (texts("key.csat_average"), texts.decimal(report.csat_average, 2)),
        (texts("key.response_rate"), texts.percent(report.response_rate)),
        (texts("key.follow_up_rate"), texts.percent(report.follow_up_rate)),
        (texts("key.repeat_complainers"), texts.number(report.repeat_complainers)),
    ]


def _write(path: Path, content: bytes) -> None:
    draft = path.with_name(f".{path.name}.{os.getpid()}.part")
    draft.write_bytes(content)
    draft.replace(path)


# --- what the report says, once for the PDF and the HTML ---


def _sections(report: MonthlyReport, texts: Texts, charts: dict[str, Chart]) -> list[Section]:
    t = texts
    counted = t("volume.complaints")
    return [
        Section(
            t("key.heading"),
            [FigureTable(["", ""], [list(pair) for pair in key_figures(report, t)])],
            [charts["by_channel"]],
        ),
        Section(
            t("volume.heading"),
            [
                FigureTable(
                    [t("volume.category"), counted],
                    [[t.category(report, c), t.number(n)] for c, n in _largest(report.by_category)],
                )
            ],
            [charts["by_category"], charts["by_department"]],
        ),
        Section(
            t("decisions.heading"),
            [
                FigureTable(
                    ["", ""],
                    [
                        [t("decisions.decided"), t.number(report.decided)],
                        [t("decisions.justified"), t.number(report.justified)],
                        [t("decisions.unjustified"), t.number(report.unjustified)],
                        [t("decisions.justified_rate"), t.percent(report.justified_rate)],
                    ],
                ),
                FigureTable(
                    ["", t("durations.cases"), t("durations.median"), t("durations.p90")],
                    [
                        _span_row(t, "to_acknowledge", report.to_acknowledge),
                        _span_row(t, "to_decide", report.to_decide),
                        _span_row(t, "to_close", report.to_close),
                    ],
                ),
            ],
            [charts["durations"]],
        ),
        Section(
            t("sla.heading"),
            [
                FigureTable(
                    [t(f"sla.{name}") for name in ("step", "due", "met_in_time", "breached", "compliance")],
                    [
                        [
                            t.step(step.step),
                            t.number(step.due),
                            t.number(step.met_in_time),
                            t.number(step.breached),
                            t.percent(step.compliance),
                        ]
                        for step in report.sla
                    ],
                )
            ],
            [charts["sla"]],
        ),
        Section(
            t("satisfaction.heading"),
            [FigureTable(["", ""], _satisfaction_rows(report, t))],
            [charts["csat"]],
        ),
        Section(
            t("recurring.heading"),
            [
                FigureTable(
                    [
                        t("recurring.category"),
                        t("recurring.last_month"),
                        t("recurring.this_month"),
                        t("recurring.change"),
                        t("recurring.actions"),
                        t("recurring.result"),
                    ],
                    [
                        [
                            t.category(report, trend.category),
                            t.number(trend.last_month),
                            t.number(trend.this_month),
                            f"{trend.change:+d}",
                            t.number(trend.actions_completed_last_month),
                            t("recurring.reduced") if trend.reduced else t("recurring.not_reduced"),
                        ]
                        for trend in report.recurring
                    ],
                ),
            ]
            if report.recurring
            else [],
            [charts["recurring"]],
            note=None if report.recurring else t("recurring.none"),
        ),
        Section(
            t("breached.heading"),
            [
                FigureTable(
                    [
                        t("breached.reference"),
                        t("breached.department"),
                        t("breached.category"),
                        t("breached.steps"),
                        t("breached.hours_over"),
                    ],
                    [
                        [
                            case.reference,
                            t.department(report, case.department),
                            t.category(report, case.category),
                            t.number(case.breached_steps),
                            t.hours(case.hours_over),
                        ]
                        for case in report.most_breached
                    ],
                )
            ]
            if report.most_breached
            else [],
            note=None if report.most_breached else t("breached.none"),
            new_page=False,
        ),
    ]


def _largest(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _span_row(t: Texts, key: str, span: Durations) -> list[str]:
    return [t(f"durations.{key}"), t.number(span.count), t.hours(span.median_hours), t.hours(span.p90_hours)]


def _satisfaction_rows(report: MonthlyReport, t: Texts) -> list[list[str]]:
    rows = [
        [t("satisfaction.surveys_sent"), t.number(report.surveys_sent)],
        [t("satisfaction.surveys_answered"), t.number(report.surveys_answered)],
        [t("satisfaction.response_rate"), t.percent(report.response_rate)],
        [t("satisfaction.csat_average"), t.decimal(report.csat_average, 2)],
    ]
    if report.nps_answers:
        rows += [
            [t("satisfaction.nps"), t.decimal(report.nps, 0)],
            [t("satisfaction.nps_answers"), t.number(report.nps_answers)],
        ]
    rows += [
        [t("satisfaction.follow_up_cases"), t.number(report.follow_up_cases)],
        [t("satisfaction.follow_up_rate"), t.percent(report.follow_up_rate)],
        *(
            [t("satisfaction.follow_up_round", round=number), t.number(cases)]
            for number, cases in sorted(report.follow_up_rounds.items())
        ),
        [t("satisfaction.repeat_complainers"), t.number(report.repeat_complainers)],
        [t("satisfaction.repeat_complaints"), t.number(report.repeat_complaints)],
        [t("satisfaction.closed"), t.number(report.closed)],
    ]
    return rows


# --- PDF ---


def _register_fonts() -> None:
    """DejaVu Sans from matplotlib's own data: reportlab's built-in fonts have no ğ, ş or ı."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, fonts / "DejaVuSans.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD, fonts / "DejaVuSans-Bold.ttf"))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13, textColor=INK, alignment=TA_LEFT)
    return {
        "body": base,
        "muted": ParagraphStyle("muted", parent=base, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=20, leading=25, spaceAfter=4),
        "month": ParagraphStyle("month", parent=base, fontName=BOLD, fontSize=28, leading=34, spaceAfter=6),
        "heading": ParagraphStyle(
            "heading", parent=base, fontName=BOLD, fontSize=14, leading=18, spaceBefore=4, spaceAfter=8
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=7.5, leading=10),
        "number": ParagraphStyle("number", parent=base, fontSize=8.5, leading=11, alignment=TA_RIGHT),
        "head_number": ParagraphStyle(
            "head_number", parent=base, fontName=BOLD, fontSize=7.5, leading=10, alignment=TA_RIGHT
        ),
    }


def _pdf(report: MonthlyReport, texts: Texts, sections: list[Section]) -> bytes:
    _register_fonts()
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(_escape(texts("title")), styles["title"]),
        Paragraph(_escape(texts.month(report.month)), styles["month"]),
        Paragraph(_escape(texts("subtitle")), styles["muted"]),
        Paragraph(_escape(texts("generated", when=_when(report))), styles["muted"]),
        Spacer(1, 8 * mm),
    ]
    for index, section in enumerate(sections):
        if index and section.new_page:
            story.append(PageBreak())
        story.append(Paragraph(_escape(section.heading), styles["heading"]))
        if section.note:
            story.append(Paragraph(_escape(section.note), styles["body"]))
        for table in section.tables:
            story += [_pdf_table(table, styles), Spacer(1, 5 * mm)]
        for chart in section.charts:
            story += [Image(io.BytesIO(chart.png), width=CHART_WIDTH, height=CHART_HEIGHT), Spacer(1, 3 * mm)]
    while isinstance(story[-1], Spacer):  # a last spacer that overflows would add a blank page
        story.pop()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{texts('title')} {texts.month(report.month)}",
        author="CCM",
        lang=texts.language,
    )
    document.build(story, canvasmaker=_numbered_canvas(texts))
    return buffer.getvalue()


def _pdf_table(table: FigureTable, styles: dict[str, ParagraphStyle]) -> Table:
    has_header = any(table.headers)
    rows = [_pdf_row(table.headers, styles["head"], styles["head_number"])] if has_header else []
    rows += [_pdf_row(row, styles["cell"], styles["number"]) for row in table.rows]
    columns = len(table.headers)
    first = TEXT_WIDTH * (0.55 if columns == 2 else 0.34 if columns < 6 else 0.26)
    widths = [first] + [(TEXT_WIDTH - first) / (columns - 1)] * (columns - 1)
    style = [
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if has_header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    return Table(rows, colWidths=widths, style=TableStyle(style), hAlign="LEFT", repeatRows=int(has_header))


def _pdf_row(cells: list[str], label: ParagraphStyle, figure: ParagraphStyle) -> list[Paragraph]:
    """The first column names the figure; the others hold numbers, aligned on the right."""
    return [Paragraph(_escape(cell), figure if column else label) for column, cell in enumerate(cells)]


def _numbered_canvas(texts: Texts) -> type[Canvas]:
    """A canvas that writes "page n of m" on every page once it knows m (reportlab's two-pass recipe)."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self._pages: list[dict[str, object]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(FONT, 8)
                self.setFillColor(MUTED)
                self.drawRightString(
                    A4[0] - MARGIN,
                    MARGIN / 2,
                    texts("page", page=self._pageNumber, pages=len(self._pages)),
                )
                super().showPage()
            super().save()

    return NumberedCanvas


def _when(report: MonthlyReport) -> str:
    return report.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _escape(text: str) -> str:
    """Paragraph text is reportlab markup: a ``<`` or ``&`` in a name must not be read as a tag."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- HTML ---


def _html(report: MonthlyReport, texts: Texts, sections: list[Section]) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return environment.get_template("monthly.html").render(
        language=texts.language,
        title=texts("title"),
        month=texts.month(report.month),
        subtitle=texts("subtitle"),
        generated=texts("generated", when=_when(report)),
        sections=[
            {
                "heading": section.heading,
                "note": section.note,
                "tables": section.tables,
                "charts": [{"title": chart.title, "svg": Markup(chart.svg)} for chart in section.charts],
            }
            for section in sections
        ],
    )


# --- CSV ---


def _csv(report: MonthlyReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "item", "value"])
    writer.writerows((section, item, _plain(value)) for section, item, value in csv_rows(report))
    return buffer.getvalue()


def csv_rows(report: MonthlyReport) -> Iterator[tuple[str, str, object]]:
    """Every figure of the report as (section, code, value): what the CSV holds, one row each."""
    yield "report", "month", report.month
    yield "report", "generated_at", report.generated_at.isoformat()
    yield "volume", "received", report.received
    for section, counts in (
        ("by_channel", report.by_channel),
        ("by_category", report.by_category),
        ("by_department", report.by_department),
    ):
        for code, count in _largest(counts):
            yield section, code, count
    yield "decisions", "decided", report.decided
    yield "decisions", "justified", report.justified
    yield "decisions", "unjustified", report.unjustified
    yield "decisions", "justified_rate", report.justified_rate
    for name, span in (
        ("to_acknowledge", report.to_acknowledge),
        ("to_decide", report.to_decide),
        ("to_close", report.to_close),
    ):
        yield name, "count", span.count
        yield name, "median_hours", span.median_hours
        yield name, "p90_hours", span.p90_hours
    for step in report.sla:
        yield "sla", f"{step.step}.due", step.due
        yield "sla", f"{step.step}.met_in_time", step.met_in_time
        yield "sla", f"{step.step}.breached", step.breached
        yield "sla", f"{step.step}.compliance", step.compliance
    yield "sla", "all.compliance", sla_compliance(report)
    yield "surveys", "sent", report.surveys_sent
    yield "surveys", "answered", report.surveys_answered
    yield "surveys", "response_rate", report.response_rate
    yield "surveys", "csat_average", report.csat_average
    for score in range(1, 6):
        yield "csat_distribution", str(score), report.csat_distribution.get(score, 0)
    yield "surveys", "nps_answers", report.nps_answers
    yield "surveys", "nps", report.nps
    yield "follow_up", "cases", report.follow_up_cases
    yield "follow_up", "rate", report.follow_up_rate
    for number, cases in sorted(report.follow_up_rounds.items()):
        yield "follow_up", f"round.{number}", cases
    yield "closed", "closed", report.closed
    yield "repeat", "complainers", report.repeat_complainers
    yield "repeat", "complaints", report.repeat_complaints
    for trend in report.recurring:
        yield "recurring", f"{trend.category}.last_month", trend.last_month
        yield "recurring", f"{trend.category}.this_month", trend.this_month
        actions = trend.actions_completed_last_month
        yield "recurring", f"{trend.category}.actions_completed_last_month", actions
        yield "recurring", f"{trend.category}.reduced", trend.reduced
    for case in report.most_breached:
        yield "most_breached", f"{case.reference}.department", case.department
        yield "most_breached", f"{case.reference}.category", case.category
        yield "most_breached", f"{case.reference}.breached_steps", case.breached_steps
        yield "most_breached", f"{case.reference}.hours_over", case.hours_over


def _plain(value: object) -> str:
    """Machine-readable: empty for nothing, ``true``/``false``, dot decimals rounded to 4 places."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(round(value, 4))
    return str(value)
