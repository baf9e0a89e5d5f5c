"""E-mail delivery through the outbox worker to a real SMTP server on loopback, on SQLite and PostgreSQL.

The SMTP server (aiosmtpd) stands in for the outside mail relay: it stores what it takes and can
refuse a recipient, be down, or take a mail and never answer while the worker is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from ccm.settings import Settings
from ccm_core.bootstrap import Core
from ccm_core.domain.queues import OutboxMessage
from ccm_core.i18n import translate
from ccm_core.service_layer import services
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from channels import email
from channels.delivery import DeliveryWorker
from channels.settings import ChannelSettings
from tests.conftest import Clock
from tests.harness import context, product_settings
from tests.http_server import free_port
from tests.service.helpers import outbox, record, staff, to_informed
from tests.smtp import Relay, relay_on

LEAD = "elif.kaya@example.com"
MAIL_FROM = "Şikayet Yönetimi <sikayet@example.com>"
CUSTOMER = "ayse.yilmaz@example.com"
REFUSED = "gone@example.com"


@dataclass
class Mail:
    core: Core
    settings: Settings
    clock: Clock

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    def worker(self, name: str = "mail-worker") -> DeliveryWorker:
        ctx = context(self.core, self.settings)
        return DeliveryWorker(ctx, {"email": email.sender(ctx)}, name)

    def deliver_all(self) -> None:
        """Run the worker until nothing is due (one message per recipient at a time, in order)."""
        while asyncio.run(self.worker().run_once()):
            pass

    def messages(self, reference: str) -> list[OutboxMessage]:
        return outbox(self.uow(), reference)

    def after_retry_time(self, reference: str) -> None:
        """Move the clock past every retry the worker planned (it plans them on the real clock)."""
        latest = max(m.available_at for m in self.messages(reference))
        self.clock.now = max(self.clock.now, latest) + dt.timedelta(seconds=1)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mail(
    uow: UnitOfWork, settings: CoreSettings, engine: Engine, make_uow: Any, clock: Clock, port: int
) -> Mail:
    core = Core(settings, engine, make_uow)
    product = product_settings(
        core,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_user="",
        smtp_password="",
        smtp_starttls=False,
        mail_from=MAIL_FROM,
        delivery_retry_seconds=1,
    )
    return Mail(core, product, clock)


def email_intake(mail: Mail, address: str = CUSTOMER, language: str = "tr") -> str:
    return record(
        mail.uow(),
        channel="email",
        language=language,
        customer=CustomerDetails(name="Ayşe Yılmaz", email=address),
    ).reference


def test_the_survey_reaches_an_email_intakes_customer_with_its_link(mail: Mail, port: int) -> None:
    reference = email_intake(mail)
    lead = staff(mail.uow(), LEAD)
    to_informed(mail.uow(), lead, reference)
    services.send_survey(mail.uow(), lead, reference)
    with relay_on(port, Relay()) as relay:
        mail.deliver_all()

    messages = mail.messages(reference)
    assert {m.status for m in messages} == {"delivered"}
    assert [m["Subject"] for m in relay.received] == [
        *[translate("tr", "email.subject", reference=reference)] * (len(messages) - 1),
        translate("tr", "email.subject_survey", reference=reference),
    ]
    survey = relay.received[-1]
    outboxed = next(m for m in messages if m.kind == "survey")
    assert survey["To"] == CUSTOMER
    assert survey["From"] == MAIL_FROM
    assert survey["Message-ID"] == f"<outbox.{outboxed.id}.0@example.com>"
    assert survey["Content-Language"] == "tr"
    assert survey.get_content_type() == "text/plain"
    assert survey.get_content_charset() == "utf-8"
    text = survey.get_content()
    assert outboxed.payload["link"] in text
    assert outboxed.body in text  # the Turkish question, "ş", "ı" and all, as the customer reads it
    assert "memnunsunuz" in text
    assert len({m["Message-ID"] for m in relay.received}) == len(messages)


def test_a_recipient_the_relay_refuses_fails_the_message_with_the_reason_kept(
    mail: Mail, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    reference = email_intake(mail, REFUSED)
    caplog.set_level(logging.INFO)
    with relay_on(port, Relay(refused={REFUSED})) as relay:
        mail.deliver_all()
    [acknowledgement] = mail.messages(reference)
    assert acknowledgement.status == "failed"
    assert acknowledgement.attempts == 1
    assert acknowledgement.last_error is not None
    assert "550 5.1.1" in acknowledgement.last_error
    assert "mailbox unavailable" in acknowledgement.last_error
    assert REFUSED not in acknowledgement.last_error  # addresses are masked in what is kept
    ours = [record.getMessage() for record in caplog.records if not record.name.startswith("mail.")]
    assert any("550 5.1.1" in line for line in ours)
    assert not any(REFUSED in line for line in ours)  # the stand-in relay's own log is not ours
    assert relay.received == []


def test_a_relay_that_is_down_is_tried_again_later(mail: Mail, port: int) -> None:
    reference = email_intake(mail)
    mail.deliver_all()  # nobody listens on the port yet
    [waiting] = mail.messages(reference)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error is not None and "unreachable" in waiting.last_error
    assert waiting.available_at > mail.clock.now

    mail.after_retry_time(reference)
    with relay_on(port, Relay()) as relay:
        mail.deliver_all()
    [delivered] = mail.messages(reference)
    assert (delivered.status, delivered.attempts) == ("delivered", 2)
    assert [m["To"] for m in relay.received] == [CUSTOMER]


def test_a_mail_the_relay_took_before_the_worker_died_is_not_sent_again(mail: Mail, port: int) -> None:
    reference = email_intake(mail)
    relay = Relay(hold_reply=threading.Event())
    assert relay.hold_reply is not None

    async def killed_while_the_relay_answers() -> None:
        worker = asyncio.create_task(mail.worker("killed").run_once())
        while not relay.received:
            await asyncio.sleep(0.02)
        worker.cancel()  # the process dies: nothing after the send is recorded
        relay.hold_reply.set()  # (the relay answers; nobody is left to hear it)
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    with relay_on(port, relay):
        asyncio.run(killed_while_the_relay_answers())
        [in_flight] = mail.messages(reference)
        assert (in_flight.status, in_flight.part_in_flight) == ("pending", 0)
        mail.clock.advance(seconds=mail.settings.channels.delivery_lease_seconds + 1)
        mail.deliver_all()

    [message] = mail.messages(reference)
    assert message.status == "failed"
    assert message.last_error is not None and "not sent again" in message.last_error
    assert len(relay.received) == 1


def test_email_is_off_until_its_relay_and_sender_are_set() -> None:
    missing = ChannelSettings(smtp_host="", mail_from="").missing()
    assert missing["email"] == ["CCM_SMTP_HOST", "CCM_MAIL_FROM"]
    assert not ChannelSettings(smtp_host="smtp.example.com", mail_from="").email_on
    assert ChannelSettings(smtp_host="smtp.example.com", mail_from="ccm@example.com").email_on


def test_message_ids_are_made_from_the_outbox_message() -> None:
    assert email.message_id("outbox:42:0", "CCM <ccm@mail.example.com>") == "<outbox.42.0@mail.example.com>"
    assert email.message_id("outbox:42:0", "CCM <ccm@mail.example.com>") == email.message_id(
        "outbox:42:0", "ccm@mail.example.com"
    )
