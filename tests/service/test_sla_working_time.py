"""SLA deadlines in each department's working hours, and the customer told when review runs long.

On SQLite and PostgreSQL. The demo organisation works 09:00–18:00 Monday to Friday in Istanbul
with Turkish holidays; its finance department works 08:00–17:00 in Berlin with Berlin's holidays.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from ccm_core.adapters.db import session_factory
from ccm_core.domain.errors import ValidationFailed
from ccm_core.service_layer import services, views
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION
from tests.conftest import Clock
from tests.service.helpers import audit_actions, outbox, record, staff

ISTANBUL = ZoneInfo("Europe/Istanbul")
BERLIN = ZoneInfo("Europe/Berlin")


def at(local: str, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(dt.UTC)


def deadlines(case: views.CaseView) -> dict[str, dt.datetime | None]:
    return {step.step: step.due_at for step in case.sla}


def test_a_complaint_recorded_on_friday_evening_is_due_in_working_hours(uow, clock) -> None:
    clock.now = at("2026-10-09 19:00", ISTANBUL)  # Friday, an hour after logistics went home
    case = record(uow, category="delivery")
    assert case.department == "logistics"
    due = deadlines(case)
    assert due["acknowledge"] == at("2026-10-12 10:00", ISTANBUL)  # 1 h: Monday's first hour
    assert due["interim_notice"] == at("2026-10-14 15:00", ISTANBUL)  # 24 h: Mon 9, Tue 9, Wed 6
    assert due["decision"] == at("2026-10-21 18:00", ISTANBUL)  # 72 h: eight working days


def test_the_german_finance_department_follows_the_german_calendar(uow, clock) -> None:
    # Wednesday 28 October 2026, 14:30 UTC: 17:30 in Istanbul, 15:30 in Berlin (CET since Sunday).
    # Thursday 29 October is Republic Day in Turkey, a working day in Germany.
    clock.now = dt.datetime(2026, 10, 28, 14, 30, tzinfo=dt.UTC)
    delivery = deadlines(record(uow, category="delivery"))
    billing_case = record(uow, category="billing", language="de")
    assert billing_case.department == "finance"
    billing = deadlines(billing_case)

    assert delivery["acknowledge"] == at("2026-10-30 09:30", ISTANBUL)  # half an hour Wed, Thu off
    assert delivery["interim_notice"] == at("2026-11-03 14:30", ISTANBUL)  # 0.5 + Fri 9 + Mon 9 + 5.5
    assert delivery["decision"] == at("2026-11-10 17:30", ISTANBUL)  # 0.5 + 9 + 45 + 9 + 8.5

    assert billing["acknowledge"] == at("2026-10-28 16:30", BERLIN)
    assert billing["interim_notice"] == at("2026-11-02 12:30", BERLIN)  # 1.5 + Thu 9 + Fri 9 + 4.5
    assert billing["decision"] == at("2026-11-09 15:30", BERLIN)  # 1.5 + 9 + 9 + 45 + 7.5


def test_the_action_deadline_of_a_decision_taken_after_hours_starts_next_working_morning(uow, clock) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    clock.now = at("2026-10-28 10:00", ISTANBUL)
    reference = record(uow, category="delivery").reference
    services.start_review(uow, lead, reference)
    clock.now = at("2026-10-30 19:00", ISTANBUL)  # Friday evening
    case = services.decide_complaint(uow, lead, reference, justified=True, reason="Damaged in transit")
    # 168 h from Monday 2 November 09:00: 18 working days (162 h) to Wednesday 25th, then 6 h more.
    assert deadlines(case)["action_completion"] == at("2026-11-26 15:00", ISTANBUL)


def test_seeding_refuses_a_bad_working_time_naming_the_field(uow, clock, tmp_path: Path) -> None:
    organisation = yaml.safe_load(DEMO_ORGANISATION.read_text(encoding="utf-8"))
    finance = next(d for d in organisation["departments"] if d["code"] == "finance")
    finance["working_time"] = {**finance["working_time"], "start": "17:00", "end": "08:00"}
    bad_hours = tmp_path / "bad-hours.yaml"
    bad_hours.write_text(yaml.safe_dump(organisation, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed) as refused:
        seed_organisation(uow, bad_hours)
    assert "department finance: working_time.end" in refused.value.message("en")

    organisation["working_time"]["country"] = "Atlantis"
    bad_country = tmp_path / "bad-country.yaml"
    bad_country.write_text(yaml.safe_dump(organisation, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed) as refused:
        seed_organisation(uow, bad_country)
    assert "working_time.country" in refused.value.message("en")

    # nothing of the refused files was stored: finance still counts Berlin's hours
    clock.now = at("2026-10-09 16:30", BERLIN)
    assert deadlines(record(uow, category="billing"))["acknowledge"] == at("2026-10-12 08:30", BERLIN)


# --- the customer told, once, that the review runs long ---

# Recorded Monday 5 October 12:00 in Istanbul: the decision is due 72 working hours later,
# Thursday 15 October 12:00 (09:00 UTC); "soon" is the SLA alerts' four hours before that.
DECISION_DUE = dt.datetime(2026, 10, 15, 9, 0, tzinfo=dt.UTC)


def delay_notices(uow: UnitOfWork, reference: str) -> list:
    return [message for message in outbox(uow, reference) if message.kind == "review_delayed"]


def test_the_customer_is_told_once_in_their_language_when_the_review_runs_long(uow, clock) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow, category="delivery", language="de").reference
    services.start_review(uow, lead, reference)
    assert deadlines(views.get_complaint(uow, lead, reference))["decision"] == DECISION_DUE

    clock.now = DECISION_DUE - dt.timedelta(hours=4)  # due in exactly four hours: not yet
    assert services.send_review_delay_notices(uow) == 0
    assert delay_notices(uow, reference) == []

    clock.advance(minutes=1)
    assert services.send_review_delay_notices(uow) == 1
    assert services.send_review_delay_notices(uow) == 0  # the worker looks again a minute later
    clock.now = DECISION_DUE + dt.timedelta(days=3)  # breached by now: still told only once
    assert services.send_review_delay_notices(uow) == 0

    [notice] = delay_notices(uow, reference)
    assert (notice.language, notice.status, notice.channel) == ("de", "pending", "email")
    assert reference in notice.body and "Logistik" in notice.body and "länger als geplant" in notice.body
    told = [e for e in views.complaint_timeline(uow, lead, reference) if e.what == "review_delay_notice"]
    assert [(e.actor, e.status_after) for e in told] == [("system:sla", "in_review")]
    case = views.get_complaint(uow, lead, reference)
    assert case.status == "in_review" and case.decision is None  # the notice changes no step


def test_only_undecided_cases_near_their_decision_deadline_are_told(uow, clock) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    not_picked_up = record(uow, category="delivery", language="en").reference
    decided = record(uow, category="delivery").reference
    rejected = record(uow, category="delivery").reference
    for reference in (decided, rejected):
        services.start_review(uow, lead, reference)
    services.decide_complaint(uow, lead, decided, justified=True, reason="Damaged in transit")
    services.decide_complaint(
        uow, lead, rejected, justified=False, reason="Delivered intact", customer_explanation="Signed for."
    )
    clock.advance(minutes=10)
    later = record(uow, category="delivery").reference  # due ten minutes after the others

    clock.now = DECISION_DUE - dt.timedelta(hours=4) + dt.timedelta(minutes=5)
    assert services.send_review_delay_notices(uow) == 1
    [notice] = delay_notices(uow, not_picked_up)
    assert "taking longer than planned" in notice.body and "Logistics" in notice.body
    assert delay_notices(uow, decided) == delay_notices(uow, rejected) == delay_notices(uow, later) == []
    assert "review_delay_notice" not in audit_actions(uow, decided)

    clock.advance(minutes=10)
    assert services.send_review_delay_notices(uow) == 1
    assert len(delay_notices(uow, later)) == 1


class MeetingClock(Clock):
    """Holds both workers at every look at the clock, so both load the case before either writes."""

    def __init__(self, start: dt.datetime, parties: int) -> None:
        super().__init__(start)
        self.barrier = threading.Barrier(parties, timeout=10)

    def __call__(self) -> dt.datetime:
        self.barrier.wait()
        return self.now


def test_two_workers_at_once_tell_the_customer_once(uow, engine, settings) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow, category="delivery").reference
    services.start_review(uow, lead, reference)

    meeting = MeetingClock(DECISION_DUE, parties=2)
    sessions = session_factory(engine)

    def worker(_: int) -> int:
        return services.send_review_delay_notices(UnitOfWork(sessions, settings=settings, clock=meeting))

    with ThreadPoolExecutor(2) as pool:
        told = list(pool.map(worker, range(2)))

    assert sorted(told) == [0, 1]
    assert len(delay_notices(uow, reference)) == 1
    assert audit_actions(uow, reference).count("review_delay_notice") == 1
