"""``ccm report monthly``: the month's three files, and one clear line for a month it cannot report on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from tests.service.helpers import record


@pytest.fixture
def october(uow, clock) -> None:
    clock.now = dt.datetime(2026, 10, 14, 10, 0, tzinfo=dt.UTC)
    record(uow, channel="web", category="delivery")
    record(uow, channel="phone", category="billing")


def test_the_monthly_report_writes_three_files_and_prints_their_paths(invoke, october, tmp_path):
    out = tmp_path / "out"
    result = invoke("report", "monthly", "--month", "2026-10", "--language", "de", "--out", str(out))

    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert [path.name for path in paths] == [
        "ccm-report-2026-10-de.pdf",
        "ccm-report-2026-10-de.html",
        "ccm-report-2026-10-de.csv",
    ]
    assert all(path.is_file() and path.parent == out for path in paths)
    document = pdfium.PdfDocument(paths[0])
    try:
        first_page = document[0].get_textpage().get_text_bounded()
    finally:
        document.close()
    assert "Oktober 2026" in first_page and "Eingegangene Beschwerden 2" in first_page
    assert "by_channel,web,1" in paths[2].read_text(encoding="utf-8")


def test_by_default_the_report_is_turkish_and_kept_in_the_data_directory(invoke, cli_env, uow):
    result = invoke("report", "monthly", "--month", "2026-09")

    assert result.exit_code == 0, result.output
    reports = Path(cli_env["CCM_DATA_DIR"]) / "reports"
    assert result.stdout.splitlines()[0] == str(reports / "ccm-report-2026-09-tr.pdf")


@pytest.mark.parametrize(
    ("month", "said"),
    [
        ("2026-13", "--month must be a month as YYYY-MM (e.g. 2026-10), not '2026-13'."),
        ("oct", "--month must be a month as YYYY-MM (e.g. 2026-10), not 'oct'."),
        ("2999-01", "2999-01 has not begun yet; there is nothing to report."),
    ],
)
def test_a_month_it_cannot_report_on_is_refused_in_one_line(invoke, uow, month, said, cli_env):
    result = invoke("report", "monthly", "--month", month)

    assert result.exit_code == 2
    assert result.stderr.strip() == said
    assert not (Path(cli_env["CCM_DATA_DIR"]) / "reports").exists()


def test_an_unknown_language_is_refused(invoke, uow):
    result = invoke("report", "monthly", "--month", "2026-10", "--language", "fr")

    assert result.exit_code == 2
    assert result.stderr.strip() == "The report is written in tr, en, de, not 'fr'."
