"""Two Rasa replicas share conversations through Redis: bursts of messages, each handled once, in turn.

Two pairs of Rasa server and action server run on one PostgreSQL database and one Redis (under
a key prefix of this run's own). Customers send bursts of messages alternating between the
replicas, in two ways:

- all at the same moment, as a customer tapping twice or a client retrying does: which message
  reaches Redis first is then chance, so the test checks that each is kept once and that each
  turn saw the one before it (of eight messages the assistant cannot place, only one is
  answered as the first miss);
- each as soon as the one before it has its ticket in the conversation's queue in Redis (the
  lock store's counter), without waiting for its answer: the order sent is then the order they
  reached Redis, and the tracker must keep it (a 2 ms stagger does not give that order: a
  replica busy with another turn takes its message's ticket later, so the test waits for it).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.engine import Engine

from actions.conversation import text
from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.tables import UnrecognisedMessage
from ccm_core.domain.complaint import Complaint
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.assistant.test_conversations import DELIVERY, ORDER, REFERENCE, YES
from tests.conftest import fresh_postgres_database
from tests.harness import AssistantUnavailable, RasaClient, running_replicas

pytestmark = [pytest.mark.postgres, pytest.mark.rasa, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/9"  # not flushed: each run keeps to its own key prefix
# Greetings from the training data: plain turns, each text once per conversation.
GREETINGS = [
    "hello",
    "hi there",
    "hey",
    "good afternoon",
    "good evening",
    "hiya",
    "hey there, morning",
    "helo",
]
# Messages the assistant cannot place: the first processed is a first miss, every later one a second.
NONSENSE = [
    "qwrtz pflk",
    "xkcd vvbn mmrt",
    "zzgrb fnord",
    "vbnm qwpo",
    "jklz xcvb",
    "gzzt blorp",
    "qqzv wrrp",
    "krrt vlmp",
]
CONVERSATIONS = 20
CONVERSATIONS_AT_ONCE = 10  # whose bursts are sent all at once (their turns call the action server)
AT_ONCE = 5  # conversations bursting at the same time: more only queue for the two cores
EMAIL = "burst.sender@example.com"
# Every answer of the complaint form at once, each text once: the complaint, the topic confirmed by
# tapping, the order number, the contact, consent, the summary confirmed.
FORM = [DELIVERY["en"], "/affirm", ORDER["en"], EMAIL, YES["en"], "that's right"]
FORM_CONVERSATIONS = 4


@dataclass
class Replicas:
    rasa: list[RasaClient]
    redis: redis.Redis
    prefix: str
    settings: CoreSettings
    engine: Engine


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    workdir = tmp_path_factory.mktemp("replicas")
    prefix = f"ccm{uuid.uuid4().hex[:10]}"
    store = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    with fresh_postgres_database("replicas") as database_url:
        settings = CoreSettings(data_dir=workdir, database_url=database_url)
        engine = create_db_engine(database_url)
        seed_organisation(UnitOfWork(session_factory(engine), settings=settings), DEMO_ORGANISATION)
        try:
            with running_replicas(
                database_url, workdir, {"CCM_REDIS_URL": REDIS_URL}, redis_prefix=prefix
            ) as rasa:
                yield Replicas(rasa, store, prefix, settings, engine)
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        finally:
            engine.dispose()
            for key in store.scan_iter(f"{prefix}:*"):
                store.delete(key)
            store.close()


def burst(
    replicas: Replicas,
    sender: str,
    messages: list[str],
    pool: ThreadPoolExecutor,
    first: int,
    in_arrival_order: bool,
) -> list[Future[list[dict[str, Any]]]]:
    """``messages`` sent alternating between the replicas from replica ``first`` on, all at once or
    each as soon as the one before it holds its ticket; the answers as they come."""
    queue = (
        f"{replicas.prefix}:lock:{hashlib.sha256(sender.encode()).hexdigest()}:queue"  # keys name it by hash
    )
    answers = []
    for number, message in enumerate(messages, 1):
        rasa = replicas.rasa[(first + number) % len(replicas.rasa)]
        answers.append(pool.submit(rasa.say, sender, message, {"language": "en"}))
        deadline = time.monotonic() + 30
        while in_arrival_order and int(replicas.redis.hget(queue, "last") or 0) < number:
            assert not answers[-1].done() and time.monotonic() < deadline, "no ticket taken for a message"
            time.sleep(0.002)
    return answers


def send_bursts(
    replicas: Replicas, senders: list[str], messages: list[str], in_arrival_order: bool
) -> list[list[str]]:
    """Every sender's burst, ``AT_ONCE`` senders at a time; what each message was answered, in the
    order sent."""
    with (
        ThreadPoolExecutor(AT_ONCE) as customers,
        ThreadPoolExecutor(AT_ONCE * len(messages)) as requests,
    ):
        bursts = [
            customers.submit(burst, replicas, sender, messages, requests, first, in_arrival_order)
            for first, sender in enumerate(senders)
        ]
        return [
            ["\n".join(reply.get("text", "") for reply in answer.result()) for answer in sent.result()]
            for sent in bursts
        ]


def kept(replicas: Replicas, sender: str) -> list[str]:
    """The customer's messages in the conversation's tracker, in its order."""
    return [event["text"] for event in replicas.rasa[0].events(sender) if event.get("event") == "user"]


def losses(trackers: dict[str, list[str]], sent: list[str], in_order: bool = True) -> str:
    """What went wrong, counted: messages lost, kept twice, and (when the order is known) conversations
    out of order."""
    lost = sum(len(set(sent) - set(texts)) for texts in trackers.values())
    duplicated = sum(len(texts) - len(set(texts)) for texts in trackers.values())
    reordered = sum(
        list(dict.fromkeys(texts)) != [message for message in sent if message in texts]
        for texts in trackers.values()
    )
    counted = f"of {len(trackers) * len(sent)} messages in {len(trackers)} conversations: {lost} lost, "
    return counted + f"{duplicated} kept twice" + (f", {reordered} out of order" if in_order else "")


def test_a_burst_sent_all_at_once_to_both_replicas_is_handled_one_message_after_another(
    replicas: Replicas,
) -> None:
    senders = [f"customer-{uuid.uuid4().hex[:12]}" for _ in range(CONVERSATIONS_AT_ONCE)]

    answers = send_bursts(replicas, senders, NONSENSE, in_arrival_order=False)

    trackers = {sender: kept(replicas, sender) for sender in senders}
    assert {sender: sorted(texts) for sender, texts in trackers.items()} == dict.fromkeys(
        senders, sorted(NONSENSE)
    ), losses(trackers, NONSENSE, in_order=False)
    first_misses = [answered.count(text("en", "ask_rephrase")) for answered in answers]
    overlapping = sum(count != 1 for count in first_misses)
    assert overlapping == 0, f"{overlapping} conversations had turns that did not see the one before"
    assert all(answered.count(text("en", "offer_ways_on")) == len(NONSENSE) - 1 for answered in answers)
    with UnitOfWork(session_factory(replicas.engine), settings=replicas.settings) as uow:
        for sender in senders:  # each message kept for the admins' review once
            stored = uow.session.scalars(
                select(UnrecognisedMessage.text).where(UnrecognisedMessage.conversation_id == sender)
            ).all()
            assert sorted(stored) == sorted(NONSENSE)


def test_bursts_alternating_between_replicas_are_kept_once_each_in_the_order_they_arrived(
    replicas: Replicas,
) -> None:
    senders = [f"customer-{uuid.uuid4().hex[:12]}" for _ in range(CONVERSATIONS)]

    answers = send_bursts(replicas, senders, GREETINGS, in_arrival_order=True)

    assert all(answered for conversation in answers for answered in conversation)  # all answered
    trackers = {sender: kept(replicas, sender) for sender in senders}
    assert trackers == dict.fromkeys(senders, GREETINGS), losses(trackers, GREETINGS)
    keys = list(replicas.redis.scan_iter(f"{replicas.prefix}:lock:*"))
    assert keys and all(replicas.redis.pttl(key) > 0 for key in keys)  # quiet conversations leave nothing


def test_a_complaint_form_answered_in_one_burst_across_replicas_files_one_complete_complaint(
    replicas: Replicas,
) -> None:
    senders = [f"customer-{uuid.uuid4().hex[:12]}" for _ in range(FORM_CONVERSATIONS)]

    answers = send_bursts(replicas, senders, FORM, in_arrival_order=True)

    trackers = {sender: kept(replicas, sender) for sender in senders}
    assert trackers == dict.fromkeys(senders, FORM), losses(trackers, FORM)
    for sender, answered in zip(senders, answers, strict=True):
        recorded = REFERENCE.search(answered[-1])
        assert recorded, answered[-1]
        with UnitOfWork(session_factory(replicas.engine), settings=replicas.settings) as uow:
            [complaint] = uow.session.scalars(
                select(Complaint).where(Complaint.idempotency_key.like(f"chat:web:{sender}:%"))
            ).all()
            assert complaint.reference == recorded.group(0)
            assert (complaint.channel, complaint.language) == ("web", "en")
            assert complaint.category.code == "delivery"
            assert complaint.description == DELIVERY["en"]
            assert complaint.external_reference == "4711-2233"
            assert complaint.customer.email == EMAIL
