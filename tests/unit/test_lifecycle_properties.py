"""No sequence of commands brings a complaint into an invalid state or loses an audit event.

The aggregate is exercised in memory, without a database: every command either
applies and leaves exactly one audit event describing its move, or is refused
with a typed error and changes nothing at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer
from ccm_core.domain.errors import CCMError
from ccm_core.domain.lifecycle import (
    TRANSITIONS,
    ActionKind,
    CloseReason,
    Decision,
    Status,
)
from ccm_core.domain.organisation import Category, Department
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.domain.sla import SlaPolicy
from ccm_core.domain.survey import SurveyAnswer, load_survey
from ccm_core.settings import DEMO_SURVEY

SLA = SlaPolicy()
SURVEY = load_survey(DEMO_SURVEY)
STAFF = Actor.staff(email="agent@example.com", role="agent", staff_id=1, department_id=1)
START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)


def new_complaint() -> Complaint:
    department = Department(id=1, code="logistics", names={"en": "Logistics"})
    category = Category(code="delivery", labels={"en": "Delivery"}, department=department)
    customer = Customer(name="A Customer", email="customer@example.com", created_at=START)
    complaint = Complaint.record(
        actor=Actor.system(),
        now=START,
        reference="CMP-2026-000001",
        channel="email",
        language="en",
        category=category,
        description="The parcel arrived broken.",
        customer=customer,
        priority="normal",
        sla=SLA,
    )
    complaint.version = 1
    return complaint


def add_action(c: Complaint, now: dt.datetime) -> None:
    action = c.add_action(
        STAFF, now, kind=ActionKind.CORRECTIVE, description="Replace", owner=None, due_date=None
    )
    action.id = len(c.actions)


def complete_first_open(c: Complaint, now: dt.datetime) -> None:
    open_ids = [a.id for a in c.actions if a.done_at is None] or [999]
    c.complete_action(STAFF, now, action_id=open_ids[0], outcome="Replaced")


COMMANDS: dict[str, Callable[[Complaint, dt.datetime], object]] = {
    "start_review": lambda c, now: c.start_review(STAFF, now),
    "decide_justified": lambda c, now: c.decide(
        STAFF,
        now,
        decision=Decision.JUSTIFIED,
        reason="Damaged in transit",
        customer_explanation=None,
        sla=SLA,
    ),
    "decide_unjustified": lambda c, now: c.decide(
        STAFF,
        now,
        decision=Decision.UNJUSTIFIED,
        reason="Delivered intact",
        customer_explanation="Photo",
        sla=SLA,
    ),
    "decide_unjustified_without_explanation": lambda c, now: c.decide(
        STAFF, now, decision=Decision.UNJUSTIFIED, reason="No", customer_explanation=" ", sla=SLA
    ),
    "add_action": add_action,
    "complete_action": complete_first_open,
    "inform_customer": lambda c, now: c.inform_customer(
        STAFF, now, summary="Replaced the item", sla=SLA, survey_delay_hours=24
    ),
    "send_survey": lambda c, now: c.send_survey(
        STAFF, now, survey=SURVEY, link="https://ccm.example/survey/x", reminder_hours=48, expiry_hours=168
    ),
    "answer_satisfied": lambda c, now: c.record_survey_answer(
        STAFF, now, answer=SurveyAnswer.read(5, satisfied_from=4), comment=None, sla=SLA, max_rounds=2
    ),
    "answer_dissatisfied": lambda c, now: c.record_survey_answer(
        STAFF,
        now,
        answer=SurveyAnswer.read(2, satisfied_from=4),
        comment="Still broken",
        sla=SLA,
        max_rounds=2,
    ),
    "answer_out_of_range": lambda c, now: c.record_survey_answer(
        STAFF, now, answer=SurveyAnswer.read(7, satisfied_from=4), comment=None, sla=SLA, max_rounds=2
    ),
    "expire_survey": lambda c, now: c.expire_survey(STAFF, now),
    "start_follow_up": lambda c, now: c.start_follow_up(STAFF, now, sla=SLA),
    "close": lambda c, now: c.close(STAFF, now),
    "withdraw": lambda c, now: c.withdraw(STAFF, now),
    "request_human": lambda c, now: c.request_human(STAFF, now),
    "add_customer_message": lambda c, now: c.add_customer_message(
        STAFF, now, body="More details", author="staff", channel="phone"
    ),
}


def snapshot(c: Complaint) -> tuple:
    return (
        c.status,
        c.decision,
        c.close_reason,
        c.follow_up_round,
        len(c.actions),
        sum(a.done_at is not None for a in c.actions),
        len(c.survey_responses),
        len(c.messages),
    )


def audits(c: Complaint) -> list[AuditEvent]:
    return [item for item in c.pending if isinstance(item, AuditEvent)]


def check_invariants(c: Complaint) -> None:
    status = Status(c.status)
    assert (status == Status.CLOSED) == (c.close_reason is not None) == (c.closed_at is not None)
    if status in (Status.TAKING_ACTION, Status.CUSTOMER_INFORMED, Status.SURVEY_SENT, Status.FOLLOW_UP):
        assert c.decision == Decision.JUSTIFIED
    if c.decision == Decision.UNJUSTIFIED:
        assert status == Status.CLOSED and c.customer_explanation
    if c.close_reason == CloseReason.UNJUSTIFIED:
        assert c.decision == Decision.UNJUSTIFIED
    if status == Status.CUSTOMER_INFORMED:
        assert c.actions and all(a.done_at is not None for a in c.actions)
        assert c.informed_at is not None
    if status == Status.SURVEY_SENT:
        assert c.survey_sent_at is not None
    if status == Status.FOLLOW_UP:
        assert c.follow_up_round >= 1
    if c.decision is not None:
        assert c.decided_at is not None and c.decided_by == STAFF.label
    for response in c.survey_responses:
        assert 1 <= response.score <= 5
    assert c.follow_up_round == sum(not r.satisfied for r in c.survey_responses) + sum(
        1 for e in audits(c) if e.action == "start_follow_up"
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(sorted(COMMANDS)), max_size=40))
def test_no_command_sequence_breaks_the_process(names: list[str]) -> None:
    complaint = new_complaint()
    now = START
    accepted = 0
    for name in names:
        now += dt.timedelta(minutes=30)
        before, trail = snapshot(complaint), len(audits(complaint))
        status_before = complaint.status
        try:
            COMMANDS[name](complaint, now)
        except CCMError as refusal:
            assert refusal.message("tr") and refusal.message("de")
            assert snapshot(complaint) == before, f"{name} was refused but changed the case"
            assert len(audits(complaint)) == trail, f"{name} was refused but left an audit event"
        else:
            accepted += 1
            new_events = audits(complaint)[trail:]
            assert len(new_events) == 1, f"{name} left {len(new_events)} audit events"
            event = new_events[0]
            assert event.status_before == status_before
            assert event.status_after == complaint.status
            assert TRANSITIONS[(Status(status_before), event.action)] == complaint.status
        check_invariants(complaint)
    assert len(audits(complaint)) == accepted + 1  # the record itself is the first event


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(COMMANDS)), max_size=40))
def test_customer_messages_are_queued_in_step_with_the_process(names: list[str]) -> None:
    complaint = new_complaint()
    now = START
    for name in names:
        now += dt.timedelta(minutes=30)
        with contextlib.suppress(CCMError):
            COMMANDS[name](complaint, now)
    kinds = [m.kind for m in complaint.pending if isinstance(m, OutboxMessage)]
    actions = [e.action for e in audits(complaint)]
    assert kinds[0] == "acknowledgement"
    assert kinds.count("interim_notice") == actions.count("start_review")
    assert kinds.count("unjustified_explanation") == actions.count("decide_unjustified")
    assert kinds.count("action_summary") == actions.count("inform_customer")
    assert kinds.count("survey") == actions.count("send_survey")
    assert kinds.count("follow_up_notice") == actions.count("answer_dissatisfied") + actions.count(
        "start_follow_up"
    )
