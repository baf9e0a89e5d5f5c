"""After a customer's erasure, nothing of them is left anywhere the product keeps data.

A customer files a complaint in the web chat (the product's web server, the real assistant on
PostgreSQL), asks for a person and writes to staff in the case's Slack thread (Slack played by the
local stand-in). An admin erases the customer over the API; the worker's notifier and its erasure
task do the rest. Then every table of the database (the assistant's tracker store included), every
message the Slack stand-in holds, and every process's log are searched for the customer's name,
e-mail, phone and description.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import MetaData, select

from actions.conversation import text
from ccm.web import create_app
from ccm_core.bootstrap import bootstrap
from ccm_core.domain.queues import ErasureTask
from ccm_core.service_layer import access
from channels.customer_data import ConversationEraser
from channels.slack import SlackNotifier
from tests.assistant.test_conversations import DELIVERY, REFERENCE, YES
from tests.channels.test_web_chat import Customer, texts
from tests.conftest import Assistant
from tests.fakes.slack import BOT_TOKEN, fake_slack
from tests.harness import NOWHERE, context
from tests.http_server import serving
from tests.slack.conftest import Staffroom, slack_settings
from tests.slack.test_handoff import room_messages

pytestmark = [pytest.mark.postgres, pytest.mark.rasa]


class Jane:
    """A customer whose every detail is unique to this run, so a search finds her and no one else."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.surname = "Quill" + "".join(random.choice("bdfgklmnprstvz") for _ in range(6)).capitalize()
        self.email = f"jane.{tag}@example.org"
        self.phone_digits = "".join(random.choice("0123456789") for _ in range(7))
        self.order = f"{random.randrange(1000, 9999)}-{random.randrange(1000, 9999)}"
        self.description = f"{DELIVERY['en']}; order {self.order} is the one"

    @property
    def traces(self) -> list[str]:
        return [self.surname, self.email, self.phone_digits, self.order, "is the one"]


def file_complaint(customer: Customer, jane: Jane) -> str:
    """The complaint form, answered as the assistant asks; returns the reference."""
    answer = texts(customer.say(jane.description))
    for _ in range(8):
        if found := REFERENCE.search(answer):
            return found.group(0)
        if answer == text("en", "ask_contact"):
            answer = texts(customer.say(jane.email))
        elif answer == text("en", "ask_order_number"):
            answer = texts(customer.say(f"order number {jane.order}"))
        elif answer.startswith(text("en", "category_question", category="Delivery")):
            answer = texts(customer.say("/affirm"))
        else:  # consent, the summary to confirm
            answer = texts(customer.say(YES["en"]))
    raise AssertionError(f"the complaint was not filed; the assistant said: {answer}")


def database_text(assistant: Assistant) -> str:
    """Every row of every table in the database, the assistant's tracker store's included."""
    tables = MetaData()
    tables.reflect(assistant.engine)
    rows = []
    with assistant.engine.connect() as connection:
        for table in tables.sorted_tables:
            rows += [f"{table.name} {tuple(row)}" for row in connection.execute(select(table))]
    return "\n".join(rows)


def slack_text(room: Staffroom) -> str:
    """Every message Slack holds now, in every channel, thread and direct message."""
    return json.dumps(room.fake.channels, ensure_ascii=False)


@pytest.fixture
def room(assistant: Assistant) -> Iterator[Staffroom]:
    """The web server with the staff's Slack app, the Slack stand-in and the worker's notifier."""
    core = bootstrap(assistant.settings)
    with fake_slack() as fake:
        channels = slack_settings(core, fake, assistant.rasa.url)
        client = AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake.url}/api/")
        notifier = SlackNotifier(context(core, channels), client, "privacy-test")
        try:
            with serving(create_app(core, channels)) as url:
                yield Staffroom(url, fake, core, notifier)
        finally:
            core.engine.dispose()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the web server and the worker log in this process, down to DEBUG."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_an_erased_customer_is_found_in_no_table_slack_message_or_log(
    room: Staffroom,
    assistant: Assistant,
    logs: pytest.LogCaptureFixture,
) -> None:
    jane = Jane()
    customer = Customer(room.url, "en")
    try:
        customer.connect()
        reference = file_complaint(customer, jane)
        room.notify()
        assert texts(customer.say("let me talk to a real person")) == text(
            "en", "human_requested", reference=reference
        )
        room.notify()
        customer.utter(f"I am Jane {jane.surname}, call me on 0532 {jane.phone_digits}")
        room.until(lambda: [m for m in room_messages(room, reference) if m.author == "customer"])
        room.notify()
    finally:
        customer.close()
    searched = {"database": database_text(assistant), "slack": slack_text(room)}
    for trace in (jane.email, jane.surname, jane.phone_digits, jane.order):
        assert trace in searched["database"]  # the search finds her before the erasure
    assert jane.surname in searched["slack"] and jane.order in searched["slack"]

    with assistant.unit_of_work() as uow:
        admin_token = access.create_api_token(uow, role="admin", name="dpo")
    erased = httpx.post(
        f"{room.url}/api/v1/complaints/{reference}/customer/erase",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    assert erased.status_code == 200 and erased.json() == {"erased_complaints": 1}
    room.notify()
    # The assistant is down when the worker first tries: the conversation waits, it is not dropped.
    down = context(room.core, slack_settings(room.core, room.fake, NOWHERE, delivery_retry_seconds=0.1))
    assert asyncio.run(ConversationEraser(down, "erasure").run_once()) == 1
    with assistant.unit_of_work() as uow:
        waiting = uow.session.scalars(select(ErasureTask).where(ErasureTask.conversation_id.is_not(None)))
        assert [(t.status, t.attempts, t.last_error) for t in waiting] == [
            ("pending", 1, "Rasa not reachable (ConnectError)")
        ]
    assert jane.email in database_text(assistant)
    time.sleep(0.2)
    assert asyncio.run(ConversationEraser(room.notifier.ctx, "erasure").run_once()) == 1

    workdir = assistant.settings.data_dir
    searched = {
        "database": database_text(assistant),
        "slack": slack_text(room),
        "assistant's log": (workdir / "rasa.log").read_text(errors="replace"),
        "action server's log": (workdir / "actions.log").read_text(errors="replace"),
        "web server's and worker's log": "\n".join(record.getMessage() for record in logs.records),
    }
    found = {
        (where, trace) for where, content in searched.items() for trace in jane.traces if trace in content
    }
    assert found == set()
    assert reference in searched["slack"]  # the case itself stays, anonymised, for the statistics
