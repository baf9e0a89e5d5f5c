"""How fast the service layer walks complaints through the whole process, on SQLite and PostgreSQL.

Each database is fresh (a SQLite file in a temporary directory; a PostgreSQL database created on
the server of ``CCM_TEST_POSTGRES_URL`` and dropped afterwards), migrated and seeded with the demo
organisation. Every service call is timed on its own, so the table shows where a complaint's time
goes, and the rate over the whole walk shows what one process can sustain.

    .venv/bin/python -m benchmarks.lifecycle [--complaints N] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import make_url, text

from ccm_core.adapters.db import DatabaseUnavailable, check_connection, create_db_engine, normalise_url
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import access, services
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings

DATABASES = ("sqlite", "postgresql")
POSTGRES_SERVER_URL = os.environ.get(
    "CCM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CATEGORIES = (
    "billing",
    "delivery",
    "product_defect",
    "refund",
    "service_quality",
    "staff_conduct",
    "technical_issue",
    "privacy",
    "other",
)
CHANNELS = ("phone", "email", "call_centre", "web", "operational_visit", "social_media")
LANGUAGES = ("tr", "en", "de")
# Table order: the process chart's order, with the branches after the main path.
OPERATIONS = (
    "record_complaint",
    "start_review",
    "decide_justified",
    "add_action",
    "complete_action",
    "inform_customer",
    "send_survey",
    "answer_satisfied",
    "answer_dissatisfied",
    "decide_unjustified",
)

P = ParamSpec("P")
R = TypeVar("R")


class Timings:
    """The duration of every call, per operation."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def __call__(self, operation: str, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        result = call(*args, **kwargs)
        self.seconds[operation].append(time.perf_counter() - start)
        return result

    @property
    def calls(self) -> int:
        return sum(len(durations) for durations in self.seconds.values())


@dataclass(frozen=True)
class Run:
    database: str
    version: str
    complaints: int
    seconds: float
    timings: Timings


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """The URL of an empty database of ``kind`` that is gone after the run."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ccm-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'ccm.db'}"
        return
    server = create_db_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    name = f"ccm_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        check_connection(server)
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(normalise_url(POSTGRES_SERVER_URL))
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def walk(core: Core, complaints: int, timed: Timings) -> None:
    """Take ``complaints`` cases from intake to closing, the way a department works them."""
    uow = core.unit_of_work
    actor = access.staff_actor(uow(), email="admin@example.com")
    for number in range(complaints):
        recorded = timed(
            "record_complaint",
            services.record_complaint,
            uow(),
            actor,
            channel=CHANNELS[number % len(CHANNELS)],
            language=LANGUAGES[number % len(LANGUAGES)],
            category=CATEGORIES[number % len(CATEGORIES)],
            description=f"Benchmark complaint {number}: the order arrived damaged.",
            customer=services.CustomerDetails(
                name=f"Customer {number}", email=f"customer{number}@example.com", phone="+90 212 555 01 23"
            ),
        )
        reference = recorded.case.reference
        timed("start_review", services.start_review, uow(), actor, reference)
        if number % 10 == 2:
            timed(
                "decide_unjustified",
                services.decide_complaint,
                uow(),
                actor,
                reference,
                justified=False,
                reason="Delivered as ordered; the damage happened after delivery.",
                customer_explanation="The parcel was delivered intact and signed for.",
            )
            continue
        timed(
            "decide_justified",
            services.decide_complaint,
            uow(),
            actor,
            reference,
            justified=True,
            reason="Packaging was insufficient.",
        )
        act_and_survey(core, actor, reference, timed)
        if number % 5 == 4:
            timed("answer_dissatisfied", services.record_survey_answer, uow(), actor, reference, score=1)
            act_and_survey(core, actor, reference, timed)
        timed("answer_satisfied", services.record_survey_answer, uow(), actor, reference, score=5)


def act_and_survey(core: Core, actor: Actor, reference: str, timed: Timings) -> None:
    """07 to 09: one corrective action done, the customer told, the survey sent."""
    uow = core.unit_of_work
    case = timed(
        "add_action",
        services.add_action,
        uow(),
        actor,
        reference,
        kind="corrective",
        description="Replace the item and reinforce the packaging.",
    )
    timed(
        "complete_action",
        services.complete_action,
        uow(),
        actor,
        reference,
        action_id=case.actions[-1].id,
        outcome="Replacement delivered.",
    )
    timed("inform_customer", services.inform_customer, uow(), actor, reference, summary="We sent a new one.")
    timed("send_survey", services.send_survey, uow(), actor, reference)


def run(kind: str, complaints: int) -> Run:
    with fresh_database(kind) as url:
        upgrade(url)
        core = bootstrap(CoreSettings(database_url=url))
        try:
            seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
            timings = Timings()
            start = time.perf_counter()
            walk(core, complaints, timings)
            seconds = time.perf_counter() - start
            version = ".".join(map(str, core.engine.dialect.server_version_info or ()))
        finally:
            core.engine.dispose()
    return Run(kind, version, complaints, seconds, timings)


def milliseconds_at(durations: Sequence[float], percent: int) -> float:
    if len(durations) == 1:
        return durations[0] * 1000
    return statistics.quantiles(durations, n=100, method="inclusive")[percent - 1] * 1000


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns aligned: the first to the left, the figures to the right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def report(result: Run) -> list[str]:
    where = "fresh file in a temporary directory" if result.database == "sqlite" else "fresh database"
    lines = [
        f"{result.database} {result.version} ({where})",
        f"  {result.complaints} complaints in {result.seconds:.1f} s: "
        f"{result.complaints / result.seconds:.1f} complaints/s ({result.timings.calls} service calls)",
        "",
    ]
    rows = [("operation", "count", "p50 ms", "p95 ms")]
    for operation in OPERATIONS:
        durations = result.timings.seconds.get(operation)
        if durations:
            rows.append(
                (
                    operation,
                    str(len(durations)),
                    f"{milliseconds_at(durations, 50):.2f}",
                    f"{milliseconds_at(durations, 95):.2f}",
                )
            )
    lines += ["  " + line for line in table(rows)]
    return lines


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lifecycle", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--complaints", type=int, default=300, help="complaints per database (default 300)")
    parser.add_argument(
        "--databases", default=",".join(DATABASES), help="comma-separated: sqlite, postgresql (default both)"
    )
    arguments = parser.parse_args(argv)
    arguments.databases = [name.strip() for name in arguments.databases.split(",") if name.strip()]
    unknown = sorted(set(arguments.databases) - set(DATABASES))
    if unknown or not arguments.databases:
        parser.error(f"--databases takes {', '.join(DATABASES)}; got {', '.join(unknown) or 'nothing'}")
    if arguments.complaints < 1:
        parser.error("--complaints must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    print(f"CCM lifecycle benchmark: {arguments.complaints} complaints per database, via the service layer")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    for database in arguments.databases:
        try:
            result = run(database, arguments.complaints)
        except DatabaseUnavailable as exc:
            sys.exit(f"{exc} (The benchmark's PostgreSQL server is set by CCM_TEST_POSTGRES_URL.)")
        print()
        print("\n".join(report(result)), flush=True)


if __name__ == "__main__":
    main()
