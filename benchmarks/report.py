"""How long the monthly report takes on PostgreSQL with 10,000 and with 1,000,000 complaints.

For each size a fresh PostgreSQL database (on the server of ``CCM_TEST_POSTGRES_URL``, dropped
afterwards) is migrated, seeded with the demo organisation, filled by
``benchmarks.generate_complaints`` over 12 months and ANALYZEd. Then ``monthly_report`` runs for
the last of those months: once on a new connection (first run), then three more times (the
median of these is the warm figure). Then the report is rendered as the worker does (PDF, HTML
and CSV with charts, in Turkish) into ``var/reports/benchmark-<size>/``, where it stays to be
looked at. The sizes are printed side by side with the row counts and the database's size.

    .venv/bin/python -m benchmarks.report [--sizes 10000,1000000] [--months 12]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from benchmarks.generate_complaints import generate
from benchmarks.lifecycle import fresh_database, table
from ccm_core.adapters.db import DatabaseUnavailable, create_db_engine, session_factory
from ccm_core.adapters.migrations import upgrade
from ccm_core.domain.policy import Actor
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.report import MonthlyReport, monthly_report
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from reports.render import write_monthly_report

UNTIL = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # the report is made on the first of the month after
REPORT_YEAR, REPORT_MONTH = 2026, 10
TABLES = ("complaints", "customers", "audit_events", "survey_responses", "complaint_actions")
WARM_RUNS = 3
RENDERED = Path("var/reports")


@dataclass(frozen=True)
class Result:
    complaints: int
    load_seconds: float
    rows: dict[str, int]
    database_bytes: int
    first_seconds: float
    warm_seconds: float
    render_seconds: float
    report: MonthlyReport


def timed_report(url: str) -> tuple[float, MonthlyReport]:
    engine = create_db_engine(url)
    try:
        uow = UnitOfWork(
            session_factory(engine), settings=CoreSettings(database_url=url), clock=lambda: UNTIL
        )
        start = time.perf_counter()
        report = monthly_report(uow, Actor.system("benchmark"), REPORT_YEAR, REPORT_MONTH)
        return time.perf_counter() - start, report
    finally:
        engine.dispose()


def run(complaints: int, months: int) -> Result:
    with fresh_database("postgresql") as url:
        upgrade(url)
        engine = create_db_engine(url, isolation_level="AUTOCOMMIT")
        try:
            seed_organisation(
                UnitOfWork(session_factory(engine), settings=CoreSettings(database_url=url)),
                DEMO_ORGANISATION,
            )
            start = time.perf_counter()
            generate(url, complaints=complaints, months=months, until=UNTIL)
            load_seconds = time.perf_counter() - start
            with engine.connect() as connection:
                connection.execute(text("VACUUM ANALYZE"))
                rows = {name: connection.scalar(text(f"SELECT count(*) FROM {name}")) or 0 for name in TABLES}
                size = connection.scalar(text("SELECT pg_database_size(current_database())")) or 0
        finally:
            engine.dispose()
        first, report = timed_report(url)
        warm = [timed_report(url)[0] for _ in range(WARM_RUNS)]
    start = time.perf_counter()
    write_monthly_report(report, "tr", RENDERED / f"benchmark-{complaints}")
    render_seconds = time.perf_counter() - start
    return Result(
        complaints, load_seconds, rows, size, first, statistics.median(warm), render_seconds, report
    )


def side_by_side(results: Sequence[Result]) -> list[str]:
    def each(label: str, value: object) -> tuple[str, ...]:
        return (label, *(value(result) if callable(value) else str(value) for result in results))

    rows: list[tuple[str, ...]] = [each("", lambda r: f"{r.complaints:,} complaints")]
    rows += [each(f"rows: {name}", lambda r, name=name: f"{r.rows[name]:,}") for name in TABLES]
    rows += [
        each("database size", lambda r: f"{r.database_bytes / 2**20:,.0f} MB"),
        each("generated and loaded in", lambda r: f"{r.load_seconds:,.1f} s"),
        each(f"report {REPORT_YEAR}-{REPORT_MONTH:02d}: received", lambda r: f"{r.report.received:,}"),
        each("report: first run", lambda r: f"{r.first_seconds * 1000:,.0f} ms"),
        each(f"report: warm (median of {WARM_RUNS})", lambda r: f"{r.warm_seconds * 1000:,.0f} ms"),
        each("PDF, HTML and CSV rendered in", lambda r: f"{r.render_seconds * 1000:,.0f} ms"),
    ]
    return table(rows)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,1000000", help="complaints per database (default 10000,1000000)"
    )
    parser.add_argument("--months", type=int, default=12, help="months the complaints span (default 12)")
    arguments = parser.parse_args(argv)
    try:
        arguments.sizes = [int(size) for size in arguments.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers")
    if not arguments.sizes or min(arguments.sizes) < 1:
        parser.error("--sizes takes counts of at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    print(
        f"CCM monthly report benchmark: PostgreSQL, complaints over {arguments.months} months "
        f"up to {UNTIL:%Y-%m-%d}"
    )
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    results = []
    for size in arguments.sizes:
        try:
            results.append(run(size, arguments.months))
        except DatabaseUnavailable as exc:
            sys.exit(f"{exc} (The benchmark's PostgreSQL server is set by CCM_TEST_POSTGRES_URL.)")
        print(f"  {size:,} complaints done", flush=True)
    print()
    print("\n".join(side_by_side(results)))
    print(f"\nThe rendered reports are in {RENDERED}/benchmark-<size>/.")


if __name__ == "__main__":
    main()
