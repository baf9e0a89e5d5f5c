"""E-mail intake end to end: real mails in a real dovecot, the real assistant's NLU, the worker's
delivery through a real SMTP server, and the department's Slack (the local stand-in); on SQLite and
PostgreSQL.

What is asserted is what people see: the customer's acknowledgement in their thread and language,
the case the department gets, the folders staff look at, and nothing filed or sent for machines.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ccm.settings import Settings
from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.inbound_mail import InboundMail, MailOutcome
from ccm_core.i18n import translate
from ccm_core.service_layer import mail_intake, services, views
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from channels import email
from channels.delivery import DeliveryWorker
from channels.mail_intake.intake import MailIntake, incoming
from channels.mail_intake.mailbox import Mailbox
from channels.mail_intake.parse import parse_mail
from channels.settings import ChannelSettings
from channels.slack import SlackNotifier
from tests.conftest import Assistant
from tests.fakes.slack import BOT_TOKEN, FakeSlack, fake_slack
from tests.harness import context, product_settings
from tests.http_server import free_port
from tests.mail.dovecot import Account
from tests.service.helpers import staff, to_informed
from tests.smtp import Relay, relay_on

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"
MAIL_FROM = "Şikayet Yönetimi <sikayet@ccm.example.com>"
ADMIN = "admin@example.com"
IMAP_SETTINGS = {name for name in ChannelSettings.model_fields if name.startswith("imap_")}


def fixture(name: str, **replace: str) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


@dataclass
class Desk:
    """The product as a contact centre runs it: a mailbox, a worker, a relay, Slack."""

    core: Core
    settings: Settings
    account: Account
    relay: Relay
    slack: FakeSlack

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    def intake(self, worker: str = "worker-1") -> MailIntake:
        return MailIntake(context(self.core, self.settings), worker)

    def take_in(self, worker: str = "worker-1") -> int:
        """One pass of a worker's intake over the inbox, as after IDLE reported new mail."""
        return asyncio.run(self._pass(worker))

    async def _pass(self, worker: str) -> int:
        mailbox = Mailbox(self.settings.channels, "INBOX")
        await asyncio.to_thread(mailbox.connect)
        try:
            return await self.intake(worker).take_in_waiting(mailbox, "INBOX", asyncio.Event())
        finally:
            await asyncio.to_thread(mailbox.close)

    def deliver(self) -> None:
        """The worker's delivery until nothing is due: mail to customers, notices to Slack."""
        ctx = context(self.core, self.settings)
        delivery = DeliveryWorker(ctx, {"email": email.sender(ctx)}, "worker-1")
        client = AsyncWebClient(token=BOT_TOKEN, base_url=self.settings.channels.slack_api_url)
        notifier = SlackNotifier(ctx, client, "worker-1")

        async def until_done() -> None:
            while await delivery.run_once() + await notifier.run_once():
                pass

        asyncio.run(until_done())

    def cases(self) -> list[Complaint]:
        with self.uow() as uow:
            found = list(uow.session.scalars(select(Complaint).order_by(Complaint.id)))
            uow.session.expunge_all()
            return found

    def outcomes(self) -> list[MailOutcome | None]:
        with self.uow() as uow:
            return list(uow.session.scalars(select(InboundMail.outcome).order_by(InboundMail.id)))

    def sent_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.relay.received if m["To"] == address]

    def folder(self, name: str) -> list[bytes]:
        return [raw for raw, _ in self.account.messages(name)]


@pytest.fixture
def desk(
    assistant: Assistant,
    settings: CoreSettings,
    engine: Engine,
    make_uow: Any,
    uow: UnitOfWork,
    account: Account,
) -> Iterator[Desk]:
    core = Core(settings, engine, make_uow)
    port = free_port()
    imap = account.settings(imap_sender_limit=5).model_dump(include=IMAP_SETTINGS)
    with fake_slack() as slack, relay_on(port, Relay()) as relay:
        product = product_settings(
            core,
            assistant.rasa.url,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            mail_from=MAIL_FROM,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret="not-used-here",
            slack_api_url=f"{slack.url}/api/",
            mail_attachment_max_bytes=100,
            **imap,
        )
        yield Desk(core, product, account, relay, slack)


def test_new_mails_become_cases_acknowledged_in_the_customers_thread_and_language(desk: Desk) -> None:
    for name in ("plain_tr.eml", "html_only_de.eml", "multipart_attachments_en.eml"):
        desk.account.deliver(fixture(name))
    assert desk.take_in() == 3
    assert desk.folder("INBOX") == [] and len(desk.folder("CCM/Processed")) == 3

    cases = desk.cases()
    assert [(c.channel, c.language) for c in cases] == [("email", "tr"), ("email", "de"), ("email", "en")]
    turkish, german, english = cases
    assert turkish.category.code == "delivery"  # read by the assistant's own NLU
    assert german.category.code == "refund"
    assert turkish.description.startswith("Siparişim hâlâ gelmedi\n\nMerhaba,")
    assert "Jürgen Weiß" in german.description and "<p>" not in german.description

    desk.deliver()
    [acknowledgement] = desk.sent_to("ayse.demir@example.com.tr")
    assert acknowledgement["Subject"] == translate("tr", "email.subject", reference=turkish.reference)
    assert acknowledgement["In-Reply-To"] == "<CAHk5x9vQ2mTr+7aZkL1o0Wq@mail.example.com.tr>"
    assert acknowledgement["References"] == "<CAHk5x9vQ2mTr+7aZkL1o0Wq@mail.example.com.tr>"
    assert (
        translate("tr", "outbox.acknowledgement", reference=turkish.reference)
        in acknowledgement.get_content()
    )
    [german_acknowledgement] = desk.sent_to("j.weiss@example.de")
    assert german_acknowledgement["Content-Language"] == "de"
    # The department sees each new case in its Slack channel.
    assert any(turkish.reference in m["text"] for m in desk.slack.messages("#ccm-logistics"))

    # The English customer's files: listed on the case, one kept, the one over the limit refused by mail.
    view = views.get_complaint(desk.uow(), staff(desk.uow(), ADMIN), english.reference)
    assert [(a.name, a.size, a.kept) for a in view.attachments] == [
        ("invoice-88213.pdf", 125, False),
        ("kopuk düğme.png", 69, True),
    ]
    refused = [m for m in desk.sent_to("john.smith@example.com") if "invoice-88213.pdf" in m.get_content()]
    assert len(refused) == 1 and "0.0001 MB" in refused[0].get_content()


def test_a_reply_joins_its_case_reaches_slack_and_a_survey_is_answered_by_mail(desk: Desk) -> None:
    desk.account.deliver(fixture("plain_tr.eml"))
    desk.take_in()
    desk.deliver()
    [case] = desk.cases()
    [acknowledgement] = desk.sent_to("ayse.demir@example.com.tr")

    ack_id = acknowledgement["Message-ID"]
    desk.account.deliver(fixture("reply_tr.eml", **{"<outbox.7.0@ccm.example.com>": ack_id}))
    desk.take_in()
    assert len(desk.cases()) == 1
    desk.deliver()
    posted = [m["text"] for m in desk.slack.called("chat.postMessage")]
    assert any("Kargo firması bugün aradı ama paket hâlâ gelmedi." in text for text in posted)

    lead = staff(desk.uow(), "elif.kaya@example.com")
    to_informed(desk.uow(), lead, case.reference)
    services.send_survey(desk.uow(), lead, case.reference)
    desk.deliver()
    survey = desk.sent_to("ayse.demir@example.com.tr")[-1]
    assert translate("tr", "email.survey_reply") in survey.get_content()
    assert survey["References"].split()[-1] == "<CAHk5x9vQ3reply@mail.example.com.tr>"
    desk.account.deliver(
        fixture("survey_reply_score_tr.eml", **{"<outbox.19.0@ccm.example.com>": survey["Message-ID"]})
    )
    desk.take_in()
    assert views.get_complaint(desk.uow(), lead, case.reference).status == "closed"
    assert desk.outcomes() == [
        MailOutcome.NEW_COMPLAINT,
        MailOutcome.ADDED_TO_CASE,
        MailOutcome.SURVEY_ANSWER,
    ]


def test_auto_replies_bounces_and_unreadable_mail_never_become_cases_nor_get_answers(desk: Desk) -> None:
    for name in ("out_of_office_en.eml", "out_of_office_de.eml", "bounce_postfix.eml", "garbage.eml"):
        desk.account.deliver(fixture(name))
    desk.account.deliver(b"From: " + MAIL_FROM.encode() + b"\r\nSubject: loop\r\n\r\nOur own mail.\r\n")
    assert desk.take_in() == 5
    desk.deliver()
    assert desk.cases() == [] and desk.relay.received == []
    assert desk.folder("INBOX") == []
    assert len(desk.folder("CCM/Automatic")) == 4
    [unreadable] = desk.folder("CCM/Unreadable")
    assert unreadable.startswith(b"X-CCM-Reason: no sender address (From)\r\n")


def test_a_sender_over_the_limit_is_held_for_staff_with_the_reason(desk: Desk) -> None:
    for number in range(6):
        desk.account.deliver(
            fixture(
                "plain_tr.eml",
                **{"<CAHk5x9vQ2mTr+7aZkL1o0Wq@": f"<flood-{number}@", "55102": f"5510{number}"},
            )
        )
    desk.take_in()
    assert len(desk.cases()) == 5
    [held] = desk.folder("CCM/Held")
    assert held.startswith(b"X-CCM-Reason: more than 5 mails from this sender in an hour\r\n")


def test_two_workers_on_one_mailbox_take_each_mail_in_once(desk: Desk) -> None:
    def customer(number: int) -> bytes:
        return fixture(
            "html_only_de.eml", **{"000001db44c1": f"{number:012d}", "j.weiss@": f"kunde{number}@"}
        )

    for number in range(12):
        desk.account.deliver(customer(number))
    desk.account.deliver(customer(3))  # the same mail twice
    threads = [threading.Thread(target=desk.take_in, args=(f"worker-{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    desk.deliver()
    assert len(desk.cases()) == 12
    assert sorted(map(str, desk.outcomes())) == ["duplicate"] + ["new_complaint"] * 12
    assert sorted(m["To"] for m in desk.relay.received) == sorted(f"kunde{n}@example.de" for n in range(12))
    assert desk.folder("INBOX") == []


def test_a_crash_between_the_decision_and_the_move_neither_loses_nor_doubles_the_mail(desk: Desk) -> None:
    desk.account.deliver(fixture("plain_tr.eml"))
    mailbox = Mailbox(desk.settings.channels, "INBOX")
    mailbox.connect()
    try:
        [uid] = mailbox.waiting()
        claim = mail_intake.claim_mail(
            desk.uow(), "dies", folder="INBOX", uidvalidity=mailbox.uidvalidity, uid=uid
        )
        assert claim is not None
        mail = incoming(parse_mail(mailbox.fetch(uid) or b""))
        mail_intake.take_in_mail(
            desk.uow(), claim, mail, category="delivery", sender_limit=5, max_file_bytes=100
        )
    finally:
        mailbox.close()  # the worker died here: decided, never moved
    assert desk.folder("INBOX") != []
    desk.take_in("worker-2")
    assert len(desk.cases()) == 1 and desk.folder("INBOX") == []
    desk.deliver()
    assert len(desk.sent_to("ayse.demir@example.com.tr")) == 1


def test_the_worker_waits_with_idle_and_takes_in_mail_as_it_arrives(desk: Desk) -> None:
    stop_loop: list[asyncio.AbstractEventLoop] = []
    stop_event: list[asyncio.Event] = []

    async def run() -> None:
        stop = asyncio.Event()
        stop_loop.append(asyncio.get_running_loop())
        stop_event.append(stop)
        await desk.intake().run_forever(stop)

    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    try:
        time.sleep(1)  # connected and waiting
        desk.account.deliver(fixture("html_only_de.eml"))
        deadline = time.monotonic() + 30
        while not desk.cases() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [c.language for c in desk.cases()] == ["de"]
    finally:
        stop_loop[0].call_soon_threadsafe(stop_event[0].set)
        worker.join(30)
    assert not worker.is_alive()  # stopped within seconds of being told
    assert re.fullmatch(r"CMP-\d{4}-\d{6}", desk.cases()[0].reference)


def test_no_message_body_or_address_reaches_the_logs(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    desk.account.deliver(fixture("plain_tr.eml"))
    desk.account.deliver(fixture("garbage.eml"))
    desk.take_in()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("channels", "ccm")))
    assert "new_complaint" in logged and "unreadable" in logged
    for secret in ("ayse.demir", "Siparişim", "55102", desk.account.password):
        assert secret not in logged
