"""A customer's personal data: erased everywhere the database keeps it, after the retention period
too, and the customer's copy; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from ccm_core.adapters.db import session_factory
from ccm_core.adapters.tables import ChatContact, ChatMessage, UnrecognisedMessage
from ccm_core.domain.complaint import ERASED
from ccm_core.domain.errors import PermissionDenied, PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import ErasureTask, StaffNotice
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer import chat, customer_data, services, staff_notices, teaching, views
from ccm_core.service_layer.customer_data import TranscriptUnavailable
from ccm_core.service_layer.report import monthly_report
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.service.helpers import audit_actions, outbox, record, staff, to_informed
from tests.service.test_consistency import MeetingClock

JANE = CustomerDetails(name="Jane Roe", email="jane.roe@example.org", phone="+44 20 7946 0958")
CONVERSATION = "web:5f0c-jane"


def file_in_chat(uow: UnitOfWork, conversation: str = CONVERSATION, description: str = "") -> str:
    customer = Actor.customer(channel="web", external_id=conversation)
    return services.record_complaint(
        uow,
        customer,
        channel="web",
        language="en",
        category="delivery",
        description=description or "My parcel from order 55102 arrived crushed, Jane Roe here.",
        customer=JANE,
    ).case.reference


def rows(uow: UnitOfWork, entity: type, *where: object) -> list:
    with uow:
        found = list(uow.session.scalars(select(entity).where(*where)))
        uow.session.expunge_all()
        return found


def test_erasure_reaches_the_web_chat_the_review_queue_and_queues_the_assistant_and_slack(uow) -> None:
    admin = staff(uow, "admin@example.com")
    reference = file_in_chat(uow)
    chat.store_chat_message(uow, CONVERSATION, "outbox:1:0", {"text": "Dear Jane Roe, CMP noted."})
    chat.note_customer_contact(uow, "web", CONVERSATION)
    chat.store_chat_message(uow, "web:someone-else", "outbox:2:0", {"text": "Hello Ahmet"})
    for conversation in (CONVERSATION, "web:someone-else"):
        teaching.keep_unrecognised_message(
            uow,
            channel="web",
            conversation_id=conversation,
            language="en",
            text="blorp the parcel",
            predicted_intent=None,
            confidence=0.2,
            reason="low_confidence",
        )
    staff_notices.save_staff_post(uow, reference, channel_ref="C0LOG", message_ref="1.000001")
    staff_notices.record_staff_message(uow, reference, channel_ref="C0LOG", message_ref="1.000002")

    assert customer_data.erase_customer_data(uow, admin, reference) == 1

    assert rows(uow, ChatMessage, ChatMessage.conversation_id == CONVERSATION) == []
    assert rows(uow, ChatContact, ChatContact.conversation_id == CONVERSATION) == []
    assert [m.content["text"] for m in rows(uow, ChatMessage)] == ["Hello Ahmet"]
    assert [i.conversation_id for i in rows(uow, UnrecognisedMessage)] == ["web:someone-else"]
    assert [(t.conversation_id, t.status) for t in rows(uow, ErasureTask)] == [(CONVERSATION, "pending")]
    notices = [n.kind for n in rows(uow, StaffNotice)]
    assert notices[-1] == "customer_erased"  # after the change notice that redraws the case's post
    assert [m.rendering for m in outbox(uow, reference)] == [None]
    case = views.get_complaint(uow, admin, reference)
    assert case.description == ERASED and case.customer["erased"] is True


def test_a_reassigned_cases_old_message_is_redacted_too(uow) -> None:
    reference = file_in_chat(uow)
    staff_notices.save_staff_post(uow, reference, channel_ref="C0LOG", message_ref="1.000001")
    staff_notices.save_staff_post(uow, reference, channel_ref="C0FIN", message_ref="2.000001")

    assert [
        (m.channel_ref, m.message_ref) for m in staff_notices.staff_messages_to_redact(uow, reference)
    ] == [("C0LOG", "1.000001")]


def test_the_assistants_conversation_is_erased_by_a_task_that_waits_while_the_assistant_is_down(
    uow, clock
) -> None:
    reference = file_in_chat(uow)
    customer_data.erase_customer_data(uow, staff(uow, "admin@example.com"), reference)
    [claim] = customer_data.claim_erasure_tasks(uow, "worker-1", limit=5, lease_seconds=60)
    assert claim.conversation_id == CONVERSATION
    assert customer_data.claim_erasure_tasks(uow, "worker-2", limit=5, lease_seconds=60) == []

    customer_data.retry_erasure_task(
        uow, claim, error="Rasa not reachable (ConnectError)", retry_at=clock.now + dt.timedelta(seconds=30)
    )
    assert customer_data.claim_erasure_tasks(uow, "worker-2", limit=5, lease_seconds=60) == []
    clock.advance(seconds=31)
    [again] = customer_data.claim_erasure_tasks(uow, "worker-2", limit=5, lease_seconds=60)
    assert (again.conversation_id, again.attempts) == (CONVERSATION, 1)
    assert not customer_data.finish_erasure_task(uow, claim)  # the first worker's lease is gone
    assert customer_data.finish_erasure_task(uow, again)

    [task] = rows(uow, ErasureTask)
    assert (task.status, task.conversation_id, task.attempts) == ("done", None, 2)
    clock.advance(days=1)
    assert customer_data.claim_erasure_tasks(uow, "worker-3", limit=5, lease_seconds=60) == []


def closed_case(uow: UnitOfWork, conversation: str) -> str:
    reference = file_in_chat(uow, conversation)
    services.withdraw_complaint(uow, Actor.customer(channel="web", external_id=conversation), reference)
    return reference


def test_retention_erases_customers_whose_cases_all_closed_long_ago_once_and_keeps_the_reports(
    uow, clock
) -> None:
    admin = staff(uow, "admin@example.com")
    month = (clock.now.year, clock.now.month)
    expired = closed_case(uow, "web:expired")
    still_open = closed_case(uow, "web:one-open")
    file_in_chat(uow, "web:one-open")  # the same customer has another case, still open
    clock.advance(days=uow.settings.retention_days - 1)
    recent = closed_case(uow, "web:recent")
    clock.advance(days=2)
    report_before = monthly_report(uow, admin, *month)

    assert customer_data.erase_expired_customers(uow) == 1
    assert customer_data.erase_expired_customers(uow) == 0

    assert views.get_complaint(uow, admin, expired).customer["erased"] is True
    assert views.get_complaint(uow, admin, still_open).customer["name"] == "Jane Roe"
    assert views.get_complaint(uow, admin, recent).customer["name"] == "Jane Roe"
    assert audit_actions(uow, expired).count("erase_customer_data") == 1
    with uow:
        actor = uow.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "erase_customer_data"))
    assert actor == "system:retention"
    assert monthly_report(uow, admin, *month) == report_before  # the past month's report still builds


def test_retention_is_off_with_zero_days(uow, clock, settings) -> None:
    closed_case(uow, "web:expired")
    clock.advance(days=10_000)
    off = UnitOfWork(
        uow.session_factory, settings=settings.model_copy(update={"retention_days": 0}), clock=clock
    )

    assert customer_data.erase_expired_customers(off) == 0


def test_two_workers_running_retention_at_once_erase_each_customer_once(uow, engine, settings, clock) -> None:
    references = [closed_case(uow, f"web:old-{n}") for n in range(3)]
    clock.advance(days=settings.retention_days + 1)
    meeting = MeetingClock(clock.now, parties=2)  # both workers hold right before each write
    sessions = session_factory(engine)

    def retention(_: int) -> int:
        return customer_data.erase_expired_customers(UnitOfWork(sessions, settings=settings, clock=meeting))

    with ThreadPoolExecutor(2) as pool:
        erased = list(pool.map(retention, [1, 2]))

    assert sum(erased) == 3
    for reference in references:
        assert audit_actions(uow, reference).count("erase_customer_data") == 1
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(ErasureTask)) == 3


class Transcripts:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def transcript(self, conversation_id: str) -> list[dict[str, str]]:
        if self.fail:
            raise TranscriptUnavailable("ConnectError")
        return [
            {"at": "2026-12-01T10:00:00+00:00", "from": "customer", "text": f"hello from {conversation_id}"}
        ]


def test_the_customers_copy_holds_their_cases_messages_answers_and_conversations_and_is_audited(
    uow,
) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = file_in_chat(uow)
    to_informed(uow, lead, reference)
    services.send_survey(uow, lead, reference)
    services.record_survey_answer(uow, lead, reference, score=2, comment="Still cross about it")
    second = file_in_chat(uow, description="And the replacement is late too.")
    services.add_customer_message(
        uow, Actor.customer(channel="web", external_id=CONVERSATION), second, body="It is order 55177."
    )
    record(uow)  # another customer's case stays out

    copy = customer_data.export_customer_data(uow, lead, reference, Transcripts())

    assert copy["customer"] | {"created_at": None} == {
        "name": "Jane Roe",
        "email": "jane.roe@example.org",
        "phone": "+442079460958",  # kept normalised
        "created_at": None,
        "erased_at": None,
        "channels": [{"channel": "web", "id": CONVERSATION}],
    }
    assert [c["reference"] for c in copy["complaints"]] == [reference, second]
    first, other = copy["complaints"]
    assert first["description"].startswith("My parcel from order 55102")
    assert first["survey_answers"][0] | {"at": None} == {
        "round": 1,
        "score": 2,
        "nps": None,
        "comment": "Still cross about it",
        "at": None,
    }
    assert [a["outcome"] for a in first["actions"]] == ["Delivered"]
    assert any("A new item was delivered." in m["text"] for m in first["sent_to_customer"])
    assert [m["text"] for m in other["messages"]] == ["It is order 55177."]
    assert copy["conversations"] == [
        {
            "id": CONVERSATION,
            "available": True,
            "lines": [
                {"at": "2026-12-01T10:00:00+00:00", "from": "customer", "text": f"hello from {CONVERSATION}"}
            ],
        }
    ]
    assert audit_actions(uow, reference)[-1] == "export_customer_data"
    with uow:
        details = uow.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "export_customer_data")
        )
        assert list(details) == [{"complaints": 2, "conversations": 1}]


def test_the_copy_says_which_conversation_the_assistant_could_not_give(uow) -> None:
    reference = file_in_chat(uow)

    copy = customer_data.export_customer_data(
        uow, staff(uow, "admin@example.com"), reference, Transcripts(fail=True)
    )

    assert copy["conversations"] == [{"id": CONVERSATION, "available": False, "lines": []}]
    assert copy["complaints"][0]["reference"] == reference


@pytest.mark.parametrize("email", ["lukas.schmidt@example.com", "emma.clarke@example.com"])
def test_agents_and_other_departments_may_not_take_a_customers_copy(uow, email: str) -> None:
    reference = file_in_chat(uow)
    audited = len(audit_actions(uow, reference))

    with pytest.raises(PermissionDenied):
        customer_data.export_customer_data(uow, staff(uow, email), reference)

    assert len(audit_actions(uow, reference)) == audited


def test_a_second_erasure_is_refused_with_when_the_first_was(uow) -> None:
    admin = staff(uow, "admin@example.com")
    reference = file_in_chat(uow)
    customer_data.erase_customer_data(uow, admin, reference)

    with pytest.raises(PreconditionFailed) as refused:
        customer_data.erase_customer_data(uow, admin, reference)

    assert refused.value.code == "customer_erased"
