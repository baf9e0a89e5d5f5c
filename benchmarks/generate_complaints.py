"""Fill a migrated, seeded database with realistic complaints, for the monthly report's benchmark.

Complaints are spread over the months before ``--until`` with a weekday and hour profile, a
channel and category mix (each category routed to its department), priorities, about 60 %
justified, corrective and preventive actions, surveys with a realistic score distribution,
follow-up rounds, repeat customers and some missed deadlines, each with its audit events.
Every case is walked through the process's states in time order; what would happen after
``--until`` has not happened yet, so recent cases are still open. Deadlines are the SLA rules'
plain hours after their start (working-time calendars are not applied).

Rows are generated in Python in batches and loaded with COPY on PostgreSQL (a million
complaints in a few minutes) or with batched INSERTs on SQLite (small counts).

    .venv/bin/python -m benchmarks.generate_complaints --database-url URL --complaints 1000000 --months 12
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, func, select, text

from ccm_core.adapters.db import create_db_engine
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer
from ccm_core.domain.organisation import Category, ReferenceCounter, SlaRule, Staff
from ccm_core.domain.records import AuditEvent, CorrectiveAction, SurveyResponse
from ccm_core.domain.sla import ANY_PRIORITY, DEFAULT_HOURS, SlaStep

HOUR = 3600.0
BATCH = 5000  # complaints per batch
SATISFIED_FROM = 4
MAX_ROUNDS = 3  # after the third dissatisfied answer the lead closes the case
CHANNELS = {"web": 24, "phone": 20, "call_centre": 16, "email": 14, "whatsapp": 9, "telegram": 5}
CHANNELS |= {"social_media": 6, "operational_visit": 3, "survey": 3}
CATEGORIES = {"delivery": 26, "billing": 16, "product_defect": 15, "refund": 12, "service_quality": 11}
CATEGORIES |= {"technical_issue": 9, "staff_conduct": 5, "privacy": 2, "other": 4}
PRIORITIES = {"normal": 74, "high": 17, "urgent": 5, "low": 4}
LANGUAGES = {"tr": 70, "en": 15, "de": 15}
SCORES = {5: 38, 4: 24, 3: 12, 2: 10, 1: 16}
WEEKDAY_WEIGHTS = (1.0, 1.0, 0.95, 0.95, 0.9, 0.45, 0.3)  # Monday … Sunday
HOUR_WEIGHTS = (0.1,) * 7 + (0.5, 1.2) + (1.8,) * 9 + (1.0,) * 4 + (0.4, 0.2)  # 00 … 23 h


class Weighted:
    """Draws keys with the given weights, fast enough for millions of draws."""

    def __init__(self, weights: dict[Any, float]) -> None:
        self.keys = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def draw(self, rng: random.Random) -> Any:
        return self.keys[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


@dataclass(frozen=True)
class Organisation:
    """What the seeded database routes to: categories, departments' staff, SLA hours, next ids."""

    categories: dict[str, tuple[int, int]]  # code → (category id, department id)
    staff: dict[int, list[str]]  # department id → actor labels
    sla_hours: dict[tuple[str, SlaStep], float]
    next_complaint_id: int
    next_customer_id: int
    last_numbers: dict[int, int]  # year → last reference number

    def allowance(self, step: SlaStep, priority: str) -> float:
        hours = self.sla_hours.get((priority, step), self.sla_hours.get((ANY_PRIORITY, step)))
        return (DEFAULT_HOURS[step] if hours is None else hours) * HOUR


@dataclass
class Batch:
    """Rows of every table for a batch of complaints, in the tables' column order."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        yield Customer.__table__, self.customers  # type: ignore[misc]
        yield Complaint.__table__, self.complaints  # type: ignore[misc]
        yield CorrectiveAction.__table__, self.actions  # type: ignore[misc]
        yield SurveyResponse.__table__, self.responses  # type: ignore[misc]
        yield AuditEvent.__table__, self.events  # type: ignore[misc]


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class Case:
    """One complaint walked through the process; stops where ``until`` is reached."""

    def __init__(self, generator: Generator, complaint_id: int) -> None:
        self.generator, self.rng, self.until = generator, generator.rng, generator.until
        self.id, self.status = complaint_id, "received"
        self.row: dict[str, Any] = {}
        self.staff = ""

    def event(self, when: float, action: str, after: str, details: dict[str, Any] | None = None) -> None:
        actor = "system:ccm" if action in {"acknowledged", "send_survey", "expire_survey"} else self.staff
        if action.startswith("answer_"):
            actor = "customer:web"
        self.generator.batch.events.append(
            {
                "complaint_id": self.id,
                "actor": actor,
                "action": action,
                "at": at(when),
                "status_before": None if action == "record" else self.status,
                "status_after": after,
                "details": details or {},
            }
        )
        self.status = after

    def hours(self, mean: float) -> float:
        """A delay with a long tail: most steps are quick, some take far longer than their deadline."""
        return self.rng.lognormvariate(0, 0.9) * mean * HOUR / 1.5

    def walk(self, received: float) -> None:
        """02 … 11 in time order; every step is skipped once it would fall after ``until``."""
        generator, rng, row = self.generator, self.rng, self.row
        priority = generator.priorities.draw(rng)
        allowed = generator.organisation.allowance
        ack = received + rng.expovariate(1 / 900) if rng.random() > 0.03 else None
        row.update(
            received_at=at(received),
            priority=priority,
            ack_due_at=at(received + allowed(SlaStep.ACKNOWLEDGE, priority)),
            interim_due_at=at(received + allowed(SlaStep.INTERIM_NOTICE, priority)),
            decision_due_at=at(received + allowed(SlaStep.DECISION, priority)),
        )
        self.event(
            received, "record", "received", {"channel": row["channel"], "category": generator.category}
        )
        if ack is not None and ack < self.until:
            row["acknowledged_at"] = at(ack)
            self.event(ack, "acknowledged", "received")
        review = received + self.hours(10)
        if review >= self.until:
            return
        row["review_started_at"] = at(review)
        self.event(review, "start_review", "in_review")
        decided = review + self.hours(30)
        if decided >= self.until:
            return
        justified = rng.random() < 0.6
        row.update(
            decided_at=at(decided),
            decision="justified" if justified else "unjustified",
            decision_reason="Generated decision",
            decided_by=self.staff,
        )
        if not justified:
            row.update(customer_explanation="Generated explanation", closed_at=at(decided))
            row["close_reason"] = "unjustified"
            self.event(decided, "decide_unjustified", "closed")
            return
        self.event(decided, "decide_justified", "taking_action")
        self.rounds(decided, priority)

    def rounds(self, start: float, priority: str) -> None:
        """07 actions, 08 informed, 09 survey, 10 answer; a dissatisfied answer starts round 11."""
        rng, row, allowed = self.rng, self.row, self.generator.organisation.allowance
        for round_number in range(MAX_ROUNDS):
            row["follow_up_round"] = round_number
            row["action_due_at"] = at(start + allowed(SlaStep.ACTION_COMPLETION, priority))
            finished = self.actions(start, round_number)
            if finished is None:
                return
            informed = finished + rng.expovariate(1 / (3 * HOUR))
            if informed >= self.until:
                return
            row.update(
                informed_at=at(informed), survey_due_at=at(informed + allowed(SlaStep.SURVEY, priority))
            )
            self.event(informed, "inform_customer", "customer_informed")
            sent = informed + 24 * HOUR + rng.expovariate(1 / HOUR)
            if sent >= self.until:
                return
            row["survey_sent_at"] = at(sent)
            self.event(sent, "send_survey", "survey_sent", {"round": round_number})
            if rng.random() > 0.7:  # never answered: expires after a week
                expired = sent + 168 * HOUR
                if expired < self.until:
                    row.update(closed_at=at(expired), close_reason="no_response")
                    self.event(expired, "expire_survey", "closed")
                return
            answered = sent + rng.expovariate(1 / (18 * HOUR))
            if answered >= self.until:
                return
            score = self.generator.scores.draw(rng)
            self.answer(answered, round_number, score)
            if score >= SATISFIED_FROM:
                row.update(closed_at=at(answered), close_reason="satisfied")
                self.event(answered, "answer_satisfied", "closed", {"score": score, "round": round_number})
                return
            row.update(
                follow_up_started_at=at(answered), informed_at=None, survey_sent_at=None, survey_due_at=None
            )
            row["follow_up_round"] = round_number + 1
            self.event(answered, "answer_dissatisfied", "follow_up", {"score": score, "round": round_number})
            if round_number + 1 == MAX_ROUNDS:  # the lead gives up on further rounds and closes the case
                closed = answered + 24 * HOUR
                if closed < self.until:
                    row.update(closed_at=at(closed), close_reason="resolved")
                    self.event(closed, "close", "closed")
                return
            start = answered

    def actions(self, start: float, round_number: int) -> float | None:
        """One or two actions from ``start``; when the last was completed, or None while one is open."""
        rng, batch = self.rng, self.generator.batch
        finished = start
        for number in range(1 if rng.random() < 0.7 else 2):
            created = start + rng.expovariate(1 / (2 * HOUR))
            if created >= self.until:
                return None
            done = created + self.hours(60)
            kind = "corrective" if rng.random() < 0.75 else "preventive"
            batch.actions.append(
                {
                    "complaint_id": self.id,
                    "kind": kind,
                    "description": "Generated action",
                    "created_at": at(created),
                    "done_at": at(done) if done < self.until else None,
                    "outcome": "Generated outcome" if done < self.until else None,
                    "follow_up_round": round_number,
                }
            )
            self.event(created, "add_action", self.status, {"kind": kind, "number": number + 1})
            if done >= self.until:
                return None
            self.event(done, "complete_action", self.status)
            finished = max(finished, done)
        return finished

    def answer(self, answered: float, round_number: int, score: int) -> None:
        rng, row = self.rng, self.row
        nps = min(10, max(0, 2 * score + rng.randint(-2, 1))) if rng.random() < 0.6 else None
        self.generator.batch.responses.append(
            {
                "complaint_id": self.id,
                "round": round_number,
                "score": score,
                "comment": None,
                "satisfied": score >= SATISFIED_FROM,
                "nps": nps,
                "source": "chat" if rng.random() < 0.7 else "link",
                "answered_at": at(answered),
            }
        )
        row["survey_answered_at"] = at(answered)


class Generator:
    """Draws complaints in time order and writes them in batches."""

    def __init__(self, engine: Engine, organisation: Organisation, until: dt.datetime, seed: int) -> None:
        self.engine, self.organisation = engine, organisation
        self.rng = random.Random(seed)
        self.until = until.timestamp()
        self.batch = Batch()
        self.channels, self.categories = Weighted(CHANNELS), Weighted(CATEGORIES)
        self.priorities, self.languages, self.scores = (
            Weighted(PRIORITIES),
            Weighted(LANGUAGES),
            Weighted(SCORES),
        )
        self.recent_customers: deque[int] = deque(maxlen=2000)
        self.next_customer_id = organisation.next_customer_id
        self.last_numbers = dict(organisation.last_numbers)
        self.category = ""

    def received_times(self, complaints: int, months: int) -> list[float]:
        """Sorted intake times over the months: weekdays and office hours get most complaints."""
        until = dt.datetime.fromtimestamp(self.until, dt.UTC)
        first = until.replace(day=1)
        for _ in range(months):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        hours = [first + dt.timedelta(hours=h) for h in range(int((until - first).total_seconds() // HOUR))]
        slots = Weighted(
            {hour.timestamp(): WEEKDAY_WEIGHTS[hour.weekday()] * HOUR_WEIGHTS[hour.hour] for hour in hours}
        )
        return sorted(slots.draw(self.rng) + self.rng.random() * HOUR for _ in range(complaints))

    def customer_for(self, received: float) -> int:
        """A returning customer for about one complaint in eight, else a new one."""
        if self.recent_customers and self.rng.random() < 0.12:
            return self.rng.choice(self.recent_customers)
        customer_id = self.next_customer_id
        self.next_customer_id += 1
        self.batch.customers.append(
            {"id": customer_id, "name": f"Customer {customer_id}", "created_at": at(received)}
        )
        self.recent_customers.append(customer_id)
        return customer_id

    def complaint(self, complaint_id: int, received: float) -> None:
        rng = self.rng
        self.category = self.categories.draw(rng)
        category_id, department_id = self.organisation.categories[self.category]
        year = dt.datetime.fromtimestamp(received, dt.UTC).year
        number = self.last_numbers.get(year, 0) + 1
        self.last_numbers[year] = number
        case = Case(self, complaint_id)
        case.staff = rng.choice(self.organisation.staff.get(department_id) or ["system:ccm"])
        case.row.update(
            id=complaint_id,
            reference=f"CMP-{year}-{number:06d}",
            channel=self.channels.draw(rng),
            language=self.languages.draw(rng),
            category_id=category_id,
            description="Generated complaint",
            customer_id=self.customer_for(received),
            department_id=department_id,
            follow_up_round=0,
            needs_human=False,
            version=1,
        )
        case.walk(received)
        case.row.update(status=case.status, updated_at=case.generator.batch.events[-1]["at"])
        self.batch.complaints.append(case.row)

    def run(self, complaints: int, months: int) -> None:
        times = self.received_times(complaints, months)
        for offset, received in enumerate(times):
            self.complaint(self.organisation.next_complaint_id + offset, received)
            if len(self.batch.complaints) == BATCH:
                self.flush()
        self.flush()

    def flush(self) -> None:
        with self.engine.begin() as connection:
            for table, rows in self.batch.tables():
                if rows:
                    write(connection, table, rows)
        self.batch = Batch()


def write(connection: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL; a batched INSERT elsewhere. Every row of a table has the table's columns."""
    columns = [column.name for column in table.columns if column.name in rows[0] or column.name != "id"]
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), [{name: row.get(name) for name in columns} for row in rows])
        return
    json_columns = {column.name for column in table.columns if column.type.__class__.__name__ == "JSON"}
    cursor = connection.connection.driver_connection.cursor()
    names = ", ".join(f'"{name}"' for name in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [json.dumps(row.get(name)) if name in json_columns else row.get(name) for name in columns]
            )


def organisation(engine: Engine) -> Organisation:
    with engine.connect() as connection:
        categories = {
            code: (category_id, department_id)
            for code, category_id, department_id in connection.execute(
                select(Category.code, Category.id, Category.department_id)
            )
        }
        staff: dict[int, list[str]] = {}
        for email, department_id in connection.execute(select(Staff.email, Staff.department_id)):
            staff.setdefault(department_id, []).append(f"staff:{email}")
        sla_hours = {
            (priority, SlaStep(step)): hours
            for priority, step, hours in connection.execute(
                select(SlaRule.priority, SlaRule.step, SlaRule.hours)
            )
        }
        next_complaint = (connection.scalar(select(func.max(Complaint.id))) or 0) + 1
        next_customer = (connection.scalar(select(func.max(Customer.id))) or 0) + 1
        numbers = dict(connection.execute(select(ReferenceCounter.year, ReferenceCounter.last_value)).all())
    missing = sorted(set(CATEGORIES) - set(categories))
    if missing:
        raise SystemExit(
            f"The database lacks the demo categories {', '.join(missing)}: run `ccm seed` first."
        )
    return Organisation(categories, staff, sla_hours, next_complaint, next_customer, numbers)


def generate(
    database_url: str, *, complaints: int, months: int, until: dt.datetime | None = None, seed: int = 1
) -> dict[str, int]:
    """Add ``complaints`` over the ``months`` before ``until`` (default: this month's first day)."""
    until = until or dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    engine = create_db_engine(database_url)
    try:
        generator = Generator(engine, organisation(engine), until, seed)
        generator.run(complaints, months)
        with engine.begin() as connection:
            for year, last in generator.last_numbers.items():
                updated = connection.execute(
                    ReferenceCounter.__table__.update()
                    .where(ReferenceCounter.year == year)
                    .values(last_value=last)
                )
                if not updated.rowcount:
                    connection.execute(ReferenceCounter.__table__.insert().values(year=year, last_value=last))
            if engine.dialect.name == "postgresql":
                for table in ("complaints", "customers"):
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                    )
        return {
            "complaints": complaints,
            "customers": generator.next_customer_id - generator.organisation.next_customer_id,
        }
    finally:
        engine.dispose()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate_complaints", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--database-url", required=True, help="a migrated database seeded with the organisation"
    )
    parser.add_argument("--complaints", type=int, default=10_000, help="how many (default 10000)")
    parser.add_argument("--months", type=int, default=12, help="spread over this many months (default 12)")
    parser.add_argument(
        "--until", type=dt.date.fromisoformat, help="first day after the data (default: this month's first)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed, for the same data again (default 1)"
    )
    arguments = parser.parse_args(argv)
    if arguments.complaints < 1 or arguments.months < 1:
        parser.error("--complaints and --months must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    until = dt.datetime.combine(arguments.until, dt.time(), dt.UTC) if arguments.until else None
    started = time.perf_counter()
    counts = generate(
        arguments.database_url,
        complaints=arguments.complaints,
        months=arguments.months,
        until=until,
        seed=arguments.seed,
    )
    seconds = time.perf_counter() - started
    print(f"{counts['complaints']} complaints of {counts['customers']} new customers in {seconds:.1f} s")


if __name__ == "__main__":
    main()
