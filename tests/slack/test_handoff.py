"""A customer asks for a person: staff talk with them in the case's Slack thread, then hand them back.

The customer is a web chat tab (socket.io, as the chat page speaks) on the product's web server
with the real assistant; staff are in Slack (signed event and interaction requests, Slack's Web
API played by the local stand-in); the staff's words reach the customer through the real
delivery worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from actions.conversation import text
from ccm.web import create_app
from ccm_core.bootstrap import bootstrap
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import CustomerMessage
from ccm_core.i18n import translate
from ccm_core.service_layer import views
from channels.slack import SlackNotifier
from tests.browser.servers import deliver_outbox
from tests.channels.test_web_chat import Customer, file_complaint, texts
from tests.conftest import Assistant
from tests.fakes.slack import BOT_TOKEN, channel_id, fake_slack
from tests.harness import context
from tests.http_server import serving
from tests.slack.conftest import Staffroom, slack_settings

LUKAS = "U0LOG002"
LOGISTICS = channel_id("#ccm-logistics")


@pytest.fixture
def room(assistant: Assistant) -> Iterator[Staffroom]:
    core = bootstrap(assistant.settings)
    with fake_slack() as fake:
        channels = slack_settings(core, fake, assistant.rasa.url)
        client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake.url}/api/")
        notifier = SlackNotifier(context(core, channels), client, "handoff-test")
        try:
            with serving(create_app(core, channels)) as url:
                yield Staffroom(url, fake, core, notifier)
        finally:
            core.engine.dispose()


def outbox_ids(room: Staffroom, reference: str, kind: str) -> list[int]:
    with room.core.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(OutboxMessage.id)
                .join(Complaint)
                .where(Complaint.reference == reference, OutboxMessage.kind == kind)
                .order_by(OutboxMessage.id)
            )
        )


def test_a_customer_talks_to_staff_in_the_cases_thread_until_staff_hand_back(
    room: Staffroom, assistant: Assistant
) -> None:
    customer = Customer(room.url, "en")
    try:
        customer.connect()
        reference = file_complaint(customer)
        room.notify()
        case_post = next(m for m in room.fake.messages(LOGISTICS) if reference in m["text"])

        answer = customer.say("let me talk to a real person")
        assert texts(answer) == text("en", "human_requested", reference=reference)
        room.notify()
        opened = room.fake.thread(LOGISTICS, case_post["ts"])
        assert opened[0]["text"] == translate("tr", "staff.handoff.requested", reference=reference)
        assert any(b.get("type") == "actions" for b in opened[0]["blocks"])  # the hand-back button

        # While a person has the conversation, the customer's words go to the thread, not to the assistant.
        customer.utter("Are you there? The parcel is still missing.")
        room.until(lambda: [m for m in room_messages(room, reference) if m.author == "customer"])
        assert customer.messages(first_within=1.5) == []
        room.notify()
        thread = room.fake.thread(LOGISTICS, case_post["ts"])
        assert thread[-1]["text"] == "Müşteri: Are you there? The parcel is still missing."

        # Lukas answers in the thread; Slack delivers the event twice; the customer reads it once.
        event = {
            "type": "message",
            "channel": LOGISTICS,
            "user": LUKAS,
            "text": "Hello, this is Lukas. I have asked the courier and call you back within the hour.",
            "ts": "1764590000.000200",
            "thread_ts": case_post["ts"],
        }
        assert room.event(event, event_id="Ev0HANDOFF1").status_code == 200
        assert room.event(event, event_id="Ev0HANDOFF1").status_code == 200
        replies = room.until(lambda: outbox_ids(room, reference, "staff_reply"))
        deliver_outbox(assistant, replies[0])
        shown = texts(customer.messages())
        assert shown == (
            "Lukas Schmidt (Logistics): Hello, this is Lukas. I have asked the courier and call you back "
            "within the hour."
        )
        assert len(outbox_ids(room, reference, "staff_reply")) == 1

        # Staff hand the conversation back: the customer is told, and the assistant answers again.
        response = room.click(LUKAS, "ccm_hand_back", reference, channel=LOGISTICS)
        assert response.status_code == 200
        room.until(lambda: not views.get_complaint(room.uow(), Actor.system(), reference).needs_human)
        deliver_outbox(assistant, outbox_ids(room, reference, "handed_back")[0])
        assert texts(customer.messages()) == translate("en", "outbox.handed_back", reference=reference)
        before = len(room_messages(room, reference))
        assert customer.say("hello")  # the assistant answers
        assert len(room_messages(room, reference)) == before  # and nothing more goes to the thread
    finally:
        customer.close()


def room_messages(room: Staffroom, reference: str) -> list[CustomerMessage]:
    with room.core.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(CustomerMessage).join(Complaint).where(Complaint.reference == reference)
        ).all()
        uow.session.expunge_all()
        return list(rows)
