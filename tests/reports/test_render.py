"""The monthly report's files as management gets them: a PDF that opens, an HTML page, a CSV of figures."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
import yaml

from reports.render import ReportFiles, write_monthly_report
from reports.texts import LANGUAGES
from tests.reports.samples import empty_month, october

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "artefacts"
PAGES = 6  # key figures, volume, decisions and times, SLA, satisfaction, recurring with breached cases
CHARTS = 7


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ReportFiles]:
    """The sample October in each language, rendered once for the module (charts take a few seconds)."""
    directory = tmp_path_factory.mktemp("reports")
    return {language: write_monthly_report(october(), language, directory) for language in ("tr", "en", "de")}


def page_text(path: Path, index: int = 0) -> str:
    document = pdfium.PdfDocument(path)
    try:
        return document[index].get_textpage().get_text_bounded()
    finally:
        document.close()


def image_objects(path: Path) -> list[int]:
    document = pdfium.PdfDocument(path)
    try:
        return [len(list(page.get_objects(filter=(pdfium_raw.FPDF_PAGEOBJ_IMAGE,)))) for page in document]
    finally:
        document.close()


def test_the_files_are_named_by_month_and_language(rendered):
    names = {path.name for path in vars(rendered["de"]).values()}

    assert names == {"ccm-report-2026-10-de.pdf", "ccm-report-2026-10-de.html", "ccm-report-2026-10-de.csv"}


def test_the_pdf_opens_with_its_pages_and_charts(rendered):
    document = pdfium.PdfDocument(rendered["en"].pdf)
    try:
        pages = len(document)
    finally:
        document.close()

    assert pages == PAGES
    assert sum(image_objects(rendered["en"].pdf)) == CHARTS
    assert image_objects(rendered["en"].pdf)[0] == 1  # the channels chart on the first page
    assert f"Page 1 of {PAGES}" in page_text(rendered["en"].pdf)
    assert f"Page {PAGES} of {PAGES}" in page_text(rendered["en"].pdf, PAGES - 1)
    for index in range(PAGES):  # no page carries its number alone (a trailing spacer once made one)
        assert page_text(rendered["en"].pdf, index).replace(f"Page {index + 1} of {PAGES}", "").strip()


def test_the_first_page_gives_the_month_and_key_figures_in_turkish(rendered):
    text = page_text(rendered["tr"].pdf)

    assert "Ekim 2026" in text
    assert "Şikayet Yönetimi: aylık rapor" in text
    assert "Alınan şikayetler 1.284" in text
    assert "Haklı bulunma oranı %78,5" in text  # 865 of 1,102 decided
    assert "SLA uyumu (tüm adımlar) %90,8" in text  # 4,763 of 5,248 deadlines met
    assert "Kapanış süresi (medyan) 146,0 sa" in text
    assert "Tekrar şikayet eden müşteriler 57" in text


def test_the_first_page_in_german_keeps_its_umlauts(rendered):
    text = page_text(rendered["de"].pdf)

    assert "Oktober 2026" in text
    assert "Eingegangene Beschwerden 1.284" in text
    assert "Anteil berechtigt 78,5 %" in text
    assert "Rücklaufquote der Umfragen 65,4 %" in text  # 517 of 790 surveys answered
    assert "Zeit bis zum Abschluss (Median) 146,0 Std." in text


def test_english_writes_percentages_and_thousands_its_way(rendered):
    text = page_text(rendered["en"].pdf)

    assert "October 2026" in text
    assert "Complaints received 1,284" in text
    assert "Justified rate 78.5%" in text


def test_later_pages_name_steps_as_the_chart_does_and_judge_the_corrective_actions(rendered):
    sla = page_text(rendered["tr"].pdf, 3)
    recurring = page_text(rendered["tr"].pdf, 5)

    assert "06 İnceleme Sonucu 1.131 968 163 %85,6" in sla
    assert "07 Aksiyon Alma Süreci" in sla
    assert "Teslimat 502 431 -71 38 azaldı" in recurring
    assert "Fatura 241 262 +21 12 azalmadı" in recurring
    assert "İade 188 188 +0 5 azalmadı" in recurring
    assert "CMP-2026-004211 Lojistik Teslimat 3 212,5 sa" in recurring


def test_the_first_page_renders_to_a_picture_with_a_coloured_chart(rendered):
    document = pdfium.PdfDocument(rendered["tr"].pdf)
    try:
        image = document[0].render(scale=2).to_pil().convert("RGB")
    finally:
        document.close()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTEFACTS / "report-page-1.png")

    pixels = list(image.get_flattened_data())
    ink = sum(1 for r, g, b in pixels if min(r, g, b) < 200)
    coloured = sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 80)
    assert ink / len(pixels) > 0.03  # text, table rules and bars, not a blank page
    assert coloured / len(pixels) > 0.01  # the channel chart's blue bars
    assert (ARTEFACTS / "report-page-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_html_is_one_self_contained_page_with_a_chart_each(rendered):
    html = rendered["de"].html.read_text(encoding="utf-8")

    assert '<html lang="de">' in html
    assert html.count("<svg") == CHARTS
    assert "Beschwerden nach Kanal (01 Beschwerdeübermittlungskanäle)" in html
    assert "Anteil berechtigt" in html and "78,5 %" in html
    # Only references inside the page (the charts' own glyphs and clip paths): nothing to fetch.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)|url\((?!#)|@import|<link|<script""", html, re.I)
    namespaces = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]+"', "", html)
    assert "http" not in namespaces  # nothing is fetched from elsewhere


def test_the_csv_carries_every_figure_as_codes_and_dot_decimals(rendered):
    with rendered["tr"].csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    figures = {(section, item): value for section, item, value in rows[1:]}

    assert rows[0] == ["section", "item", "value"]
    assert len(figures) == len(rows) - 1  # one row per figure
    assert figures[("report", "month")] == "2026-10"
    assert figures[("volume", "received")] == "1284"
    assert figures[("by_channel", "call_centre")] == "76"
    assert figures[("by_category", "product_defect")] == "171"
    assert figures[("by_department", "technical_support")] == "139"
    assert figures[("decisions", "justified_rate")] == "0.7849"
    assert figures[("to_decide", "p90_hours")] == "70.25"
    assert figures[("sla", "decision.due")] == "1131"
    assert figures[("sla", "decision.compliance")] == "0.8559"
    assert figures[("sla", "all.compliance")] == "0.9076"
    csat = [figures[("csat_distribution", str(score))] for score in range(1, 6)]
    assert csat == ["41", "38", "70", "161", "207"]
    assert figures[("surveys", "csat_average")] == "3.8472"
    assert figures[("surveys", "nps")] == "23.6"
    assert figures[("follow_up", "round.2")] == "21"
    assert figures[("repeat", "complainers")] == "57"
    assert figures[("recurring", "delivery.reduced")] == "true"
    assert figures[("recurring", "billing.reduced")] == "false"
    assert figures[("most_breached", "CMP-2026-004502.hours_over")] == "96.25"
    assert figures[("most_breached", "CMP-2026-004502.department")] == "quality"


def test_the_csv_holds_every_count_of_the_report(rendered):
    report = october()
    rows = _csv_rows(rendered["en"].csv)

    assert sum(int(v) for (section, _), v in rows.items() if section == "by_channel") == report.received
    assert {item for (section, item) in rows if section == "by_category"} == set(report.by_category)
    assert {item.split(".")[0] for (section, item) in rows if section == "sla"} == {
        "acknowledge",
        "interim_notice",
        "decision",
        "action_completion",
        "survey",
        "all",
    }


def test_a_month_without_complaints_still_renders(tmp_path):
    files = write_monthly_report(empty_month(), "tr", tmp_path)

    assert sum(image_objects(files.pdf)) == CHARTS
    assert "Alınan şikayetler 0" in page_text(files.pdf)
    assert "Haklı bulunma oranı –" in page_text(files.pdf)
    assert "Bu ay tekrarlayan kategori yok." in page_text(files.pdf, 5)
    html = files.html.read_text(encoding="utf-8")
    assert html.count("<svg") == CHARTS
    assert "Bu ay süresi aşılan vaka yok." in html
    rows = _csv_rows(files.csv)
    assert rows[("volume", "received")] == "0"
    assert rows[("decisions", "justified_rate")] == ""


def test_an_unknown_language_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fr"):
        write_monthly_report(october(), "fr", tmp_path)


def test_the_three_catalogues_have_the_same_texts():
    def keys(node: dict, prefix: str = "") -> set[str]:
        found: set[str] = set()
        for key, value in node.items():
            found |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
        return found

    locales = Path(__file__).resolve().parents[2] / "reports" / "locales"
    catalogues = {lang: yaml.safe_load((locales / f"{lang}.yaml").read_text("utf-8")) for lang in LANGUAGES}

    assert keys(catalogues["tr"]) == keys(catalogues["en"]) == keys(catalogues["de"])
    assert all(len(catalogue["month_names"]) == 12 for catalogue in catalogues.values())


def _csv_rows(path: Path) -> dict[tuple[str, str], str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(row["section"], row["item"]): row["value"] for row in csv.DictReader(handle)}
