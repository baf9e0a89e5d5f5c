"""The outbox delivery bookkeeping: claims, order per conversation, fencing, retries and failures."""

from __future__ import annotations

import threading

from sqlalchemy import select

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import ConcurrentUpdate
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.service_layer import delivery, services
from ccm_core.service_layer.services import CustomerDetails
from tests.service.helpers import outbox, record, staff

WORKER = Actor.system("worker")


def web_case(uow, session: str) -> str:
    """A web chat complaint recorded by an agent: its acknowledgement waits in the outbox."""
    return record(uow, channel="web", customer=CustomerDetails(channel_identity=f"web:{session}")).reference


def claim(uow, worker: str = "w1", limit: int = 10, lease: int = 60):
    return delivery.claim_outbox_messages(uow, worker, ["web"], limit=limit, lease_seconds=lease)


def test_a_claim_takes_the_oldest_message_of_each_conversation_only(uow) -> None:
    first, second = web_case(uow, "s1"), web_case(uow, "s2")
    services.start_review(uow, staff(uow, "elif.kaya@example.com"), first)  # a second message for s1

    claims = claim(uow)

    assert [(c.recipient, c.kind) for c in claims] == [
        ("web:s1", "acknowledgement"),
        ("web:s2", "acknowledgement"),
    ]
    assert {c.reference for c in claims} == {first, second}
    assert claim(uow, worker="w2") == []  # held by w1's lease


def test_the_next_message_of_a_conversation_waits_until_the_first_is_delivered(uow) -> None:
    reference = web_case(uow, "s1")
    services.start_review(uow, staff(uow, "elif.kaya@example.com"), reference)
    (ack,) = claim(uow)
    delivery.save_rendering(uow, ack, [{"text": "received", "buttons": []}])
    delivery.finish_delivery(uow, ack, WORKER)

    (interim,) = claim(uow)

    assert interim.kind == "interim_notice"
    messages = outbox(uow, reference)
    assert [m.status for m in messages] == ["delivered", "pending"]
    with uow:
        case = uow.session.scalars(select(Complaint).where(Complaint.reference == reference)).one()
        assert case.acknowledged_at is not None  # the acknowledgement reaching the chat meets its deadline


def test_the_last_part_sent_and_the_delivery_are_recorded_in_one_transaction(uow, monkeypatch) -> None:
    reference = web_case(uow, "s1")
    (ack,) = claim(uow)
    delivery.save_rendering(uow, ack, [{"text": "received", "buttons": []}])
    delivery.begin_part(uow, ack, 0)
    marked = []

    def staff_changed_the_case_first(uow, actor, complaint_id, now) -> None:  # once: read again next time
        marked.append(complaint_id)
        if len(marked) == 1:
            raise ConcurrentUpdate(reference=reference, by="elif.kaya@example.com", current="in_review")
        acknowledged(uow, actor, complaint_id, now)

    acknowledged = delivery._acknowledged
    monkeypatch.setattr(delivery, "_acknowledged", staff_changed_the_case_first)
    delivery.finish_delivery(uow, ack, WORKER, parts_sent=1)

    assert marked == [ack.complaint_id, ack.complaint_id]
    (message,) = outbox(uow, reference)
    assert (message.status, message.parts_sent, message.part_in_flight, message.lease_until) == (
        "delivered",
        1,
        None,
        None,
    )


def test_a_worker_whose_lease_ran_out_can_no_longer_write(uow, clock) -> None:
    web_case(uow, "s1")
    (slow,) = claim(uow, worker="slow", lease=30)
    clock.advance(seconds=31)

    (fast,) = claim(uow, worker="fast")

    assert fast.outbox_id == slow.outbox_id and fast.token == slow.token + 1
    assert delivery.begin_part(uow, slow, 0) is False
    assert delivery.begin_part(uow, fast, 0) is True
    delivery.end_part(uow, fast, 0)
    delivery.finish_delivery(uow, slow, WORKER)  # refused: not the holder
    with uow:
        assert uow.session.get(OutboxMessage, fast.outbox_id).status == "pending"
    delivery.finish_delivery(uow, fast, WORKER)
    with uow:
        assert uow.session.get(OutboxMessage, fast.outbox_id).status == "delivered"


def test_a_crash_leaves_the_rendering_and_the_part_in_flight_for_the_next_worker(uow, clock) -> None:
    web_case(uow, "s1")
    (first,) = claim(uow, lease=30)
    parts = [{"text": "one", "buttons": []}, {"text": "two", "buttons": []}]
    delivery.save_rendering(uow, first, parts)  # marks the first part in flight as well
    delivery.end_part(uow, first, 0)
    delivery.begin_part(uow, first, 1)  # ... and the worker dies here
    clock.advance(seconds=31)

    (again,) = claim(uow, worker="w2")

    assert again.rendering == parts
    assert again.parts_sent == 1
    assert again.part_in_flight == 1


def test_a_crash_right_after_the_rendering_is_saved_leaves_the_first_part_in_flight(uow, clock) -> None:
    web_case(uow, "s1")
    (first,) = claim(uow, lease=30)
    delivery.save_rendering(uow, first, [{"text": "one", "buttons": []}])  # ... and the worker dies here
    clock.advance(seconds=31)

    (again,) = claim(uow, worker="w2")

    # A channel that cannot de-duplicate does not send it again: it may have gone out.
    assert (again.parts_sent, again.part_in_flight) == (0, 0)


def test_retries_wait_and_count_and_a_failure_keeps_its_reason(uow, clock) -> None:
    reference = web_case(uow, "s1")
    (first,) = claim(uow)
    delivery.retry_delivery(uow, first, error="assistant unreachable", retry_at=clock.now.replace(hour=10))

    assert claim(uow) == []  # not due before 10:00
    clock.advance(hours=1)
    (second,) = claim(uow)
    assert second.attempts == 1
    delivery.fail_delivery(uow, second, error="Forbidden: bot was blocked by the user")

    (message,) = outbox(uow, reference)
    assert (message.status, message.attempts, message.last_error) == (
        "failed",
        2,
        "Forbidden: bot was blocked by the user",
    )
    assert claim(uow) == []


def test_two_workers_claiming_at_once_never_share_a_message(uow, make_uow) -> None:
    for number in range(30):
        web_case(uow, f"s{number}")
    barrier = threading.Barrier(2)
    taken: dict[str, list[int]] = {}

    def work(name: str) -> None:
        barrier.wait()
        ids: list[int] = []
        for _ in range(50):  # on SQLite a round can lose to the other writer and claim nothing
            ids += [c.outbox_id for c in claim(make_uow(), worker=name, limit=4)]
        taken[name] = ids

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not set(taken["a"]) & set(taken["b"])
    assert len(taken["a"]) + len(taken["b"]) == 30
