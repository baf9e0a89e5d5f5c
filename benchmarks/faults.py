"""Faults under load: replicas killed with SIGKILL and Redis restarted while customers and staff work.

The whole product runs as ``make run-cluster`` does it (two replicas of every process behind nginx
under supervisord, a PostgreSQL database of its own) on a Redis server of its own, with persistence
as a deployment runs it (``appendonly``, see docs/deploying.md), with Telegram's Bot API and
Slack's Web API played by local stand-ins over real HTTP. Customers talk to the Telegram webhook
through nginx as Telegram posts updates (with the webhook's secret), filing delivery complaints by
the assistant's form and making plain turns; an update answered with anything but 200 is posted
again with the same ``update_id``, as Telegram redelivers it. A staff member clicks "Start review"
on each new case in Slack and then decides it unjustified in the decision form (signed requests,
through nginx): each step queues a notice for the customer, which a worker delivers to the
customer's Telegram chat, and the case's message in the department's Slack channel is posted and
updated by the workers.

Meanwhile one web server, one Rasa server, one action server and one worker are killed (SIGKILL) in
turn, each brought back by supervisord before the next, and then Redis is killed with SIGKILL and
started again from its append-only file. At the end the database and the stand-ins' records are
compared: every complaint a customer was given a reference for is filed once, every message was
answered, every outbox message and staff notice arrived once. The test
``tests/cluster/test_faults.py`` runs it short.

    .venv/bin/python -m benchmarks.faults [--customers N] [--load-seconds S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from benchmarks.lifecycle import table
from benchmarks.slack_ack import Member, block_actions
from ccm.cluster import process_states
from ccm_core.adapters.db import normalise_url
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import CustomerIdentity
from ccm_core.domain.queues import OutboxMessage, StaffNotice
from ccm_core.i18n import translate
from channels import telegram
from channels.slack.app import EVENTS_PATH
from tests.channels.test_telegram import DELIVERY, DELIVERY_LABEL, ORDER, REFERENCE, TelegramCustomer
from tests.cluster_harness import Cluster, running_cluster
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, fake_slack, form, signed
from tests.fakes.telegram import TOKEN, FakeTelegram, fake_telegram
from tests.harness import RedisServer, redis_server
from tests.slack.conftest import view_submission

REPLICAS = 2
WEBHOOK_SECRET = "fault-run-webhook-secret"
STAFF = Member("U0LOG002", "de", "logistics", "#ccm-logistics")  # Lukas Schmidt, an agent of logistics
KILLED = ("web", "rasa", "actions", "worker")
REDIS_DOWN_SECONDS = 3
RECOVERY_SECONDS = 300  # a Rasa server loads its model again: one to two minutes on two cores
REQUEST_SECONDS = 90  # a turn waits behind its conversation's others on a loaded machine
REDELIVERY_SECONDS = (1, 2, 4, 8, 15)  # Telegram's pauses between redeliveries, the last repeated
GIVE_UP_SECONDS = 300  # a message not answered after this many seconds of redeliveries is never answered
STEP_SECONDS = 30  # a staff member who sees no change after this long clicks again
DRAIN_SECONDS = 240  # for the last notices after the load stops
PLAIN_TURNS = ("/start", "merhaba", "hallo")
RATE_LIMIT_SECONDS = 61  # the assistant's limit counts a customer's messages per minute
TYPING_SECONDS = 3.2  # between a customer's messages: under the limit of 20 a minute


# --- customers on Telegram ---


@dataclass
class Turn:
    """One customer message: each delivery's HTTP status (0 for no answer) and where in the chat the
    messages the bot sent meanwhile begin and end (the workers' notices among them, told apart later)."""

    chat_id: int
    step: str  # which step of the conversation, for the breakdown of what went wrong
    statuses: list[int] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)


class Customer(TelegramCustomer):
    """A Telegram customer whose messages are delivered again until answered 200, as Telegram does."""

    def __init__(
        self, fake: FakeTelegram, webhook: str, language: str, record: Callable[[Turn], None]
    ) -> None:
        super().__init__(fake, webhook, language)
        self.record = record
        self.references: list[str] = []  # the references the assistant told this customer
        self.restarts = 0  # complaints begun again because the assistant lost the thread
        self.lost_after: Counter[str] = Counter()  # the step and what the assistant said last, for each
        self.next_message_at = 0.0

    def deliver(self, update: dict[str, Any], step: str) -> str:
        """Posts the update until it is answered 200 (or given up); the texts the chat received meanwhile."""
        time.sleep(max(0.0, self.next_message_at - time.monotonic()))  # a person reads, then types
        self.next_message_at = time.monotonic() + TYPING_SECONDS
        turn = Turn(self.chat_id, step)
        first = len(self.fake.sent_to(self.chat_id))
        pauses = itertools.chain(REDELIVERY_SECONDS, itertools.repeat(REDELIVERY_SECONDS[-1]))
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while True:
            before = len(self.fake.sent_to(self.chat_id))
            try:
                status = self.post(update).status_code
            except httpx.HTTPError:
                status = 0
            turn.statuses.append(status)
            if status == 200 or time.monotonic() > deadline:
                turn.windows.append((before, len(self.fake.sent_to(self.chat_id))))
                break
            time.sleep(next(pauses))
            turn.windows.append((before, len(self.fake.sent_to(self.chat_id))))
        self.record(turn)
        return "\n".join(sent["text"] for sent in self.fake.sent_to(self.chat_id)[first:])

    def post(
        self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET, webhook: str | None = None
    ) -> httpx.Response:
        headers = {telegram.SECRET_HEADER: secret} if secret is not None else {}
        return httpx.post(webhook or self.webhook, json=update, headers=headers, timeout=REQUEST_SECONDS)

    def can_tap(self, title: str) -> bool:
        """Whether the newest message with buttons offers ``title``."""
        with_buttons = [m for m in self.fake.messages(self.chat_id) if m.get("reply_markup")]
        rows = with_buttons[-1]["reply_markup"]["inline_keyboard"] if with_buttons else []
        return any(button["text"] == title for row in rows for button in row)

    def file_complaint(self) -> bool:
        """The delivery complaint by the form, as in the Telegram tests; True once given a reference.

        When the conversation is not where the customer expects it (a turn cut off by a fault, say),
        they answer the yes-or-no question the assistant asks, if any, and otherwise begin again.
        """
        steps: list[tuple[str, str]] = [
            ("say", DELIVERY[self.language]),
            ("tap", self.expects("yes_category", category=DELIVERY_LABEL[self.language])),
            ("say", ORDER[self.language]),
            ("tap", self.expects("button_yes")),
            ("tap", self.expects("button_yes")),
        ]
        for number, (kind, words) in enumerate(steps, start=1):
            if kind == "tap" and not self.can_tap(words):
                self.restarts += 1
                said = self.fake.sent_to(self.chat_id)
                last = f"after {said[-1]['text'][:70]!r}" if said else "with nothing said"
                self.lost_after[f"step {number}, {last}"] += 1
                return self.answer_open_question()
            update = self.message_update(words) if kind == "say" else self.tap_update(words)
            if self.told_new_reference(self.deliver(update, f"complaint step {number}")):
                return True
        return False

    def answer_open_question(self) -> bool:
        """Yes to what the assistant asks (consent, the summary), as a person finishing a form would."""
        yes = self.expects("button_yes")
        for _ in range(2):
            if not self.can_tap(yes):
                return False
            if self.told_new_reference(self.deliver(self.tap_update(yes), "answering the open question")):
                return True
        return False

    def told_new_reference(self, received: str) -> bool:
        """A notice about an earlier complaint names that one; a new reference is this filing's."""
        if new := [found for found in REFERENCE.findall(received) if found not in self.references]:
            self.references.append(new[0])
            return True
        return False

    def asked_to_wait(self) -> bool:
        """The assistant's last words are its rate limit's: wait a minute, as it asks."""
        said = self.fake.sent_to(self.chat_id)
        return bool(said) and said[-1]["text"] == translate(self.language, "chat.rate_limited")


def customer_loop(customer: Customer, stop: threading.Event) -> None:
    """Complaints and plain turns in turn until ``stop``; a complaint begun is finished first."""
    while not stop.is_set():
        for _ in range(3):  # a complaint, begun again at most twice
            if customer.file_complaint():
                break
            stop.wait(RATE_LIMIT_SECONDS if customer.asked_to_wait() else 2)  # as a person pauses
        for words in random.sample(PLAIN_TURNS, 2):
            if stop.is_set():
                return
            customer.deliver(customer.message_update(words), "plain turn")


# --- a staff member in Slack ---


@dataclass
class Clicks:
    sent: int = 0
    acknowledged: int = 0
    refused: list[int] = field(default_factory=list)  # HTTP statuses other than 200, 0 for no answer
    again: int = 0  # clicks made again because the first showed no effect


class StaffMember:
    """Starts the review of every new case posted to the channel and then decides it unjustified."""

    def __init__(self, url: str, slack: FakeSlack, engine: Engine) -> None:
        self.url = f"{url}{EVENTS_PATH}"
        self.slack = slack
        self.engine = engine
        self.clicks = Clicks()
        self.decided: set[str] = set()
        self.tried: dict[str, float] = {}  # reference → when its last click was made

    def status(self, reference: str) -> str:
        with Session(self.engine) as session:
            return str(session.scalar(select(Complaint.status).where(Complaint.reference == reference)))

    def post(self, payload: dict[str, Any]) -> httpx.Response | None:
        body = form(payload)
        headers = {**signed(body, SIGNING_SECRET), "Content-Type": "application/x-www-form-urlencoded"}
        self.clicks.sent += 1
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=REQUEST_SECONDS)
        except httpx.HTTPError:
            self.clicks.refused.append(0)
            return None
        if response.status_code == 200:
            self.clicks.acknowledged += 1
        else:
            self.clicks.refused.append(response.status_code)
        return response

    def start_review(self, reference: str) -> None:
        """The "Start review" button, acknowledged first and worked on after."""
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
        self.post(block_actions(STAFF, "ccm_start_review", reference, trigger, f"{self.slack.url}/respond/x"))

    def decide(self, reference: str) -> None:
        """The decision form, submitted: the step runs before its acknowledgement."""
        values = {
            "decision": {"value": {"type": "static_select", "selected_option": {"value": "unjustified"}}},
            "reason": {"value": {"type": "plain_text_input", "value": "Delivered on time"}},
            "explanation": {"value": {"type": "plain_text_input", "value": "Your parcel was delivered."}},
        }
        form_view = {
            "type": "modal",
            "callback_id": "ccm_decide",
            "private_metadata": json.dumps({"reference": reference}),
        }
        payload = view_submission(STAFF.slack_id, form_view, values)
        response = self.post(payload)
        if (
            response is not None
            and response.status_code == 200
            and response.json().get("response_action") == "update"
        ):
            self.decided.add(reference)

    def posted_cases(self) -> list[str]:
        """The references in the department channel's messages, as staff read them there."""
        texts = (message.get("text") or "" for message in self.slack.messages(STAFF.channel))
        return sorted({found.group(0) for text in texts if (found := REFERENCE.search(text))})

    def work_once(self) -> None:
        """One pass over the channel's cases not yet decided."""
        for reference in self.posted_cases():
            if reference in self.decided:
                continue
            status = self.status(reference)
            clicked = self.tried.get(reference)
            if status == "in_review":
                self.decide(reference)
            elif status != "received":  # decided already: a submission answered after all
                self.decided.add(reference)
            elif clicked is None or time.monotonic() - clicked > STEP_SECONDS:
                self.clicks.again += clicked is not None
                self.tried[reference] = time.monotonic()
                self.start_review(reference)

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.work_once()
            stop.wait(1)


# --- the faults ---


@dataclass
class Fault:
    what: str
    seconds_until_back: float


def kill_one(cluster: Cluster, group: str) -> Fault:
    """SIGKILL to one replica of ``group``, chosen at random; then wait until it is back and healthy."""
    name = f"{group}-{random.randint(1, REPLICAS)}"
    pid = int(process_states(cluster.layout)[name]["pid"])
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    cluster.wait_until(
        f"{name} restarted",
        lambda found: found[name].healthy and found[name].pid not in (0, pid),
        RECOVERY_SECONDS,
    )
    return Fault(f"kill -9 {name}", time.monotonic() - started)


def restart_redis(cluster: Cluster, server: RedisServer) -> Fault:
    started = time.monotonic()
    server.restart(REDIS_DOWN_SECONDS)
    cluster.all_healthy(RECOVERY_SECONDS)
    return Fault(f"Redis killed, down {REDIS_DOWN_SECONDS} s, started again", time.monotonic() - started)


# --- the counts ---


@dataclass
class Counts:
    """What the run shows; ``problems`` are the figures that must be zero."""

    complaints_told: int = 0
    complaints_filed: int = 0
    complaints_lost: int = 0
    complaints_doubled: int = 0
    complaints_begun_again: int = 0
    messages: int = 0
    answered_at_once: int = 0
    answered_after_503: int = 0
    answered_after_other_refusal: int = 0  # 502 from nginx (a replica died mid-request), no answer
    never_answered: int = 0
    answered_twice: int = 0
    outbox_messages: int = 0
    outbox_in_conversation: int = 0  # acknowledgements the assistant said in the chat itself
    outbox_delivered: int = 0
    outbox_lost: int = 0
    outbox_sent_twice: int = 0
    staff_notices: int = 0
    staff_notices_lost: int = 0
    cases_posted_twice: int = 0
    clicks: Clicks = field(default_factory=Clicks)
    cases_decided: int = 0
    faults: list[Fault] = field(default_factory=list)
    refusals: Counter[int] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)  # what the non-zero problems were
    begun_again_after: Counter[str] = field(default_factory=Counter)

    @property
    def problems(self) -> dict[str, int]:
        return {
            "complaints lost": self.complaints_lost,
            "complaints filed twice": self.complaints_doubled,
            "customer messages never answered": self.never_answered,
            "customer messages answered twice": self.answered_twice,
            "outbox messages lost": self.outbox_lost,
            "outbox messages sent twice": self.outbox_sent_twice,
            "staff notices lost": self.staff_notices_lost,
            "cases posted twice to Slack": self.cases_posted_twice,
        }

    def lines(self) -> list[str]:
        refused = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(self.refusals.items()))
        rows = [
            ["", "count"],
            ["complaints a customer was given a reference for", str(self.complaints_told)],
            ["  filed in the database", str(self.complaints_filed)],
            ["  lost", str(self.complaints_lost)],
            ["  filed twice", str(self.complaints_doubled)],
            ["  complaints begun again (the assistant lost the thread)", str(self.complaints_begun_again)],
            ["customer messages (Telegram updates)", str(self.messages)],
            ["  answered at the first delivery", str(self.answered_at_once)],
            ["  refused with 503, answered when redelivered", str(self.answered_after_503)],
            ["  refused otherwise, answered when redelivered", str(self.answered_after_other_refusal)],
            ["  never answered", str(self.never_answered)],
            ["  answered twice", str(self.answered_twice)],
            ["outbox messages to customers", str(self.outbox_messages)],
            ["  said in the conversation itself", str(self.outbox_in_conversation)],
            ["  delivered by a worker, received once", str(self.outbox_delivered)],
            ["  lost", str(self.outbox_lost)],
            ["  sent twice", str(self.outbox_sent_twice)],
            ["staff notices to Slack", str(self.staff_notices)],
            ["  lost", str(self.staff_notices_lost)],
            ["  cases posted twice to the channel", str(self.cases_posted_twice)],
            ["Slack clicks and submissions sent", str(self.clicks.sent)],
            ["  acknowledged (200)", str(self.clicks.acknowledged)],
            ["  refused or unanswered", str(len(self.clicks.refused))],
            ["  clicked again (no effect seen)", str(self.clicks.again)],
            ["cases decided in Slack", str(self.cases_decided)],
        ]
        lines = table(rows)
        lines += [f"{what}: {n}" for what, n in sorted(self.details.items())]
        lines += [f"begun again at {what}: {n}" for what, n in self.begun_again_after.most_common(5)]
        if refused:
            lines.append(f"refused deliveries of customer messages by status: {refused}")
        lines += [
            "",
            *table(
                [["fault", "back after s"], *([f.what, f"{f.seconds_until_back:.0f}"] for f in self.faults)]
            ),
        ]
        return lines


def count(
    engine: Engine,
    customers: list[Customer],
    turns: list[Turn],
    staff: StaffMember,
    slack: FakeSlack,
    fake: FakeTelegram,
) -> Counts:
    """The customers' and the stand-ins' records against the database."""
    counts = Counts(clicks=staff.clicks, cases_decided=len(staff.decided))
    chats = {f"telegram:{customer.chat_id}": customer for customer in customers}
    with Session(engine) as session:
        filed = session.scalars(
            select(Complaint.reference)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Complaint.customer_id)
            .where(CustomerIdentity.external_id.in_(chats))
        ).all()
        outbox = [
            (message.recipient or "", message.kind, message.status, message.rendering)
            for message in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "telegram"))
        ]
        notices = list(session.scalars(select(StaffNotice.status)))
    told = {reference for customer in customers for reference in customer.references}
    in_database = Counter(filed)
    counts.complaints_told = len(told)
    counts.complaints_filed = len(in_database)
    counts.complaints_lost = len(told - set(in_database))
    counts.complaints_doubled = len(set(in_database) - told)
    counts.complaints_begun_again = sum(customer.restarts for customer in customers)
    for customer in customers:
        counts.begun_again_after.update(customer.lost_after)

    # Which of the chat's messages each outbox message became: its first part is the notice itself
    # (naming its case); the assistant may follow it with the open question of a form, also said in turns.
    counts.outbox_messages = len(outbox)
    notice_at: dict[str, set[int]] = {}
    for recipient, kind, status, rendering in outbox:
        if status == "delivered" and rendering is None:
            counts.outbox_in_conversation += 1  # the assistant said it while filing: no worker sent it
            continue
        chat = recipient.removeprefix("telegram:")
        sent, marked = [m["text"] for m in fake.sent_to(chat)], notice_at.setdefault(chat, set())
        texts = [part["text"] for part in rendering or []]
        starts = [index for index, text in enumerate(sent) if texts and text == texts[0]]
        for start in starts:
            marked.add(start)
            for text in texts[1:]:
                after = (i for i in range(start + 1, len(sent)) if sent[i] == text and i not in marked)
                marked.update(itertools.islice(after, 1))
        if not starts:
            counts.outbox_lost += 1
            counts.details[f"outbox message lost: {kind}, {status}"] += 1
        elif len(starts) > 1:
            counts.outbox_sent_twice += 1
            counts.details[f"outbox message sent twice: {kind}"] += 1
        else:
            counts.outbox_delivered += 1

    counts.messages = len(turns)
    for turn in turns:
        marked = notice_at.get(str(turn.chat_id), set())
        replied = [any(i not in marked for i in range(a, b)) for a, b in turn.windows]
        counts.refusals.update(status for status in turn.statuses if status != 200)
        if turn.statuses[-1] != 200 or not replied[-1]:
            counts.never_answered += 1
            counts.details[f"never answered: {turn.step}, statuses {turn.statuses}"] += 1
        elif len(turn.statuses) == 1:
            counts.answered_at_once += 1
        elif all(status == 503 for status in turn.statuses[:-1]):
            counts.answered_after_503 += 1
        else:
            counts.answered_after_other_refusal += 1
        if sum(replied) > 1:
            counts.answered_twice += 1
            counts.details[f"answered twice: {turn.step}, statuses {turn.statuses}"] += 1

    counts.staff_notices = len(notices)
    counts.staff_notices_lost = sum(1 for status in notices if status != "done")
    per_case = Counter(
        found.group(0)
        for message in slack.messages(STAFF.channel)
        if (found := REFERENCE.search(message.get("text") or ""))
    )
    counts.cases_posted_twice = sum(1 for times in per_case.values() if times > 1)
    return counts


# --- the run ---


def pending(engine: Engine) -> int:
    """Outbox messages and staff notices not yet delivered nor given up."""
    with Session(engine) as session:
        outbox = session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending")).all()
        notices = session.scalars(select(StaffNotice.id).where(StaffNotice.status == "pending")).all()
    return len(outbox) + len(notices)


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def stand_in_settings(fake: FakeTelegram, slack: FakeSlack) -> dict[str, str]:
    """The settings that point the product at the stand-ins (docs/settings.md), and quick redeliveries."""
    return {
        "CCM_TELEGRAM_BOT_TOKEN": TOKEN,
        "CCM_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CCM_TELEGRAM_API_URL": fake.api_url,
        "CCM_TELEGRAM_MODE": "webhook",
        "CCM_TELEGRAM_WEBHOOK_URL": "",  # the stand-in needs no setWebhook
        "CCM_SLACK_BOT_TOKEN": BOT_TOKEN,
        "CCM_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "CCM_SLACK_API_URL": f"{slack.url}/api/",
        "CCM_SLACK_MODE": "http",
        # A failed delivery is tried again within seconds, not minutes, so the run ends soon after the faults.
        "CCM_DELIVERY_RETRY_SECONDS": "1",
        "CCM_DELIVERY_RETRY_MAX_SECONDS": "10",
        "CCM_DELIVERY_LEASE_SECONDS": "30",
    }


def run(customers: int, pause_seconds: float, directory: Path, say: Callable[[str], None] = print) -> Counts:
    """The cluster under load through the faults, with ``pause_seconds`` of load after each."""
    with redis_server(directory) as store, fake_telegram() as fake, fake_slack() as slack:
        cluster_dir = directory / "cluster"
        cluster_dir.mkdir()
        say(f"==> Starting the cluster ({REPLICAS} replicas of each process) on Redis at port {store.port}")
        with running_cluster(cluster_dir, REPLICAS, store.url, stand_in_settings(fake, slack)) as cluster:
            engine = create_engine(normalise_url(cluster.database_url))
            turns: list[Turn] = []
            lock = threading.Lock()

            def record(turn: Turn) -> None:
                with lock:
                    turns.append(turn)

            webhook = f"{cluster.url}{telegram.WEBHOOK_PATH}"
            people = [Customer(fake, webhook, ("tr", "de")[n % 2], record) for n in range(customers)]
            staff = StaffMember(cluster.url, slack, engine)
            talking, working = threading.Event(), threading.Event()
            threads = [threading.Thread(target=customer_loop, args=(c, talking), daemon=True) for c in people]
            staff_thread = threading.Thread(target=staff.loop, args=(working,), daemon=True)
            for thread in (*threads, staff_thread):
                thread.start()
            faults: list[Fault] = []
            try:
                say(f"==> {customers} customers talking, a staff member working in Slack")
                wait_for(lambda: any(c.references for c in people), RECOVERY_SECONDS)
                for group in KILLED:
                    faults.append(kill_one(cluster, group))
                    say(f"    {faults[-1].what}: back after {faults[-1].seconds_until_back:.0f} s")
                    time.sleep(pause_seconds)
                faults.append(restart_redis(cluster, store))
                say(f"    {faults[-1].what}: all healthy after {faults[-1].seconds_until_back:.0f} s")
                time.sleep(pause_seconds)
            finally:
                talking.set()
                for thread in threads:
                    thread.join(timeout=GIVE_UP_SECONDS + 2 * REQUEST_SECONDS)
            say("==> Customers done; waiting for the last decisions and deliveries")
            told = {reference for customer in people for reference in customer.references}
            wait_for(lambda: told <= staff.decided and pending(engine) == 0, DRAIN_SECONDS)
            working.set()
            staff_thread.join(timeout=2 * REQUEST_SECONDS)
            counts = count(engine, people, turns, staff, slack, fake)
            counts.faults = faults
            engine.dispose()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=8, help="customers talking at once (default 8)")
    parser.add_argument(
        "--pause",
        type=float,
        default=30,
        help="seconds of load between two faults and after the last (default 30)",
    )
    arguments = parser.parse_args(argv)
    print(__doc__.splitlines()[0])
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ccm-f-") as directory:  # short: supervisord's socket path
        counts = run(arguments.customers, arguments.pause, Path(directory))
    print()
    print("\n".join(counts.lines()))
    print(f"\n{time.monotonic() - started:.0f} s in all, load average {os.getloadavg()[0]:.2f} at the end")
    problems = {what: n for what, n in counts.problems.items() if n}
    if problems:
        print("Not zero: " + ", ".join(f"{what} {n}" for what, n in problems.items()), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
