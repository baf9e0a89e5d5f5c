"""Concurrent staff, crashes mid-change and the append-only audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ccm_core.domain import queues
from ccm_core.domain.errors import CCMError, PreconditionFailed
from ccm_core.service_layer import chat, delivery, services, views
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Clock
from tests.service.helpers import audit_actions, outbox, record, staff


class MeetingClock(Clock):
    """Holds both staff members right after they loaded the case, so their writes truly collide."""

    def __init__(self, start, parties: int) -> None:
        super().__init__(start)
        self.barrier = threading.Barrier(parties, timeout=10)

    def __call__(self):
        self.barrier.wait()
        return self.now


def test_two_staff_deciding_at_once_record_exactly_one_decision(uow, engine, settings, clock) -> None:
    reference = record(uow).reference
    lead, agent = staff(uow, "elif.kaya@example.com"), staff(uow, "lukas.schmidt@example.com")
    services.start_review(uow, lead, reference)

    from ccm_core.adapters.db import session_factory

    meeting = MeetingClock(clock.now, parties=2)
    sessions = session_factory(engine)

    def decide(actor, justified: bool):
        try:
            reason = "Justified" if justified else "Not justified"
            explanation = None if justified else "We found no fault."
            return services.decide_complaint(
                UnitOfWork(sessions, settings=settings, clock=meeting),
                actor,
                reference,
                justified=justified,
                reason=reason,
                customer_explanation=explanation,
            )
        except CCMError as refusal:
            return refusal

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(decide, [lead, agent], [True, False]))

    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    refusal = losers[0]
    assert isinstance(refusal, PreconditionFailed) and refusal.code == "already_decided"
    assert winners[0].decided_by in str(refusal)
    case = views.get_complaint(uow, lead, reference)
    assert case.decision == winners[0].decision
    decisions = [a for a in audit_actions(uow, reference) if a.startswith("decide")]
    assert len(decisions) == 1
    kinds = [m.kind for m in outbox(uow, reference)]
    assert kinds.count("unjustified_explanation") == (case.decision == "unjustified")


def test_a_waiting_chat_message_taken_by_two_replicas_at_once_is_shown_by_one(
    uow, engine, settings, clock
) -> None:
    from ccm_core.adapters.db import session_factory

    chat.store_chat_message(uow, "web:s1", "reply:1", {"text": "Your complaint is being reviewed."})
    chat.store_chat_message(uow, "web:s1", "reply:2", {"text": "Which branch was it?"})
    meeting = MeetingClock(clock.now, parties=2)  # both replicas hold right before they take
    sessions = session_factory(engine)

    def take(_: int) -> list[str]:
        replica = UnitOfWork(sessions, settings=settings, clock=meeting)
        return [line.content["text"] for line in chat.take_chat_messages_to_show(replica, "web:s1")]

    with ThreadPoolExecutor(2) as pool:
        shown = sorted(pool.map(take, [1, 2]))

    assert shown == [[], ["Your complaint is being reviewed.", "Which branch was it?"]]
    assert chat.unshown_chat_messages(uow, "web:s1") == []


def test_a_crash_between_the_change_and_its_notice_leaves_the_record_as_it_was(uow, monkeypatch) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    real_translate = queues.translate

    def crash_on_interim(language: str, key: str, /, **params):
        if key == "outbox.interim_notice":
            raise RuntimeError("process killed while queueing the interim notice")
        return real_translate(language, key, **params)

    monkeypatch.setattr(queues, "translate", crash_on_interim)
    with pytest.raises(RuntimeError):
        services.start_review(uow, lead, reference)
    assert views.get_complaint(uow, lead, reference).status == "received"
    assert audit_actions(uow, reference) == ["record"]
    assert [m.kind for m in outbox(uow, reference)] == ["acknowledgement"]

    monkeypatch.undo()
    assert services.start_review(uow, lead, reference).status == "in_review"
    assert [m.kind for m in outbox(uow, reference)] == ["acknowledgement", "interim_notice"]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_the_audit_trail(uow, statement) -> None:
    record(uow)
    with uow, pytest.raises(DBAPIError, match="append-only"):
        uow.session.execute(text(statement))
        uow.session.flush()


def test_outbox_delivery_is_recorded_once_and_meets_the_acknowledge_deadline(uow, clock) -> None:
    reference = record(uow).reference
    [ack] = outbox(uow, reference)
    system = staff(uow, "admin@example.com")
    clock.advance(minutes=10)
    delivery.mark_outbox_delivered(uow, system, ack.id)
    delivery.mark_outbox_delivered(uow, system, ack.id)  # a repeated report changes nothing
    [delivered] = outbox(uow, reference)
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == ("delivered", 1, clock.now)
    case = views.get_complaint(uow, system, reference)
    assert case.timestamps["acknowledged_at"] == clock.now
    assert audit_actions(uow, reference).count("acknowledged") == 1


def test_failed_delivery_is_retried_later_or_given_up_with_the_reason(uow, clock) -> None:
    reference = record(uow).reference
    [ack] = outbox(uow, reference)
    retry_at = clock.advance(minutes=5)
    delivery.mark_outbox_failed(uow, ack.id, error="HTTP 502 from the channel", retry_at=retry_at)
    [message] = outbox(uow, reference)
    assert (message.status, message.attempts, message.available_at) == ("pending", 1, retry_at)
    delivery.mark_outbox_failed(uow, ack.id, error="recipient blocked the bot", retry_at=None)
    [message] = outbox(uow, reference)
    assert (message.status, message.attempts, message.last_error) == (
        "failed",
        2,
        "recipient blocked the bot",
    )
