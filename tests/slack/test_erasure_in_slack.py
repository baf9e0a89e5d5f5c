"""A customer's erasure reaches Slack: every message quoting them is redacted in place, Slack down or not.

The case's channel message is redrawn from the erased record; the handoff thread's reply with the
customer's words and the lead's alert with their survey comment are replaced by a notice in the
channel's language. While Slack fails, the worker keeps trying past the limit other notices have.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import StaffNotice
from ccm_core.i18n import translate
from ccm_core.service_layer import access, customer_data, services
from ccm_core.service_layer.services import CustomerDetails
from tests.fakes.slack import channel_id
from tests.slack.conftest import Staffroom
from tests.slack.test_staff_app import ELIF, walk_to_survey

LOGISTICS = channel_id("#ccm-logistics")
SECRET_WORDS = "call me on 0532 417 22 90, Jane Quillfeather"


def slack_holds(room: Staffroom) -> str:
    return json.dumps(room.fake.channels, ensure_ascii=False)


def test_erasure_redacts_the_thread_reply_the_alert_and_the_case_message_after_slack_comes_back(
    staffroom: Staffroom,
) -> None:
    room = staffroom
    telegram = Actor.customer(channel="telegram", external_id="telegram:5550001")
    reference = services.record_complaint(
        room.uow(),
        telegram,
        channel="telegram",
        language="tr",
        category="delivery",
        description="Kargom gelmedi, Jane Quillfeather",
        customer=CustomerDetails(name="Jane Quillfeather", email="jane.q@example.org"),
    ).case.reference
    services.request_human(room.uow(), telegram, reference)
    services.add_customer_message(room.uow(), telegram, reference, body=SECRET_WORDS)
    walk_to_survey(room, reference)
    services.record_survey_answer(
        room.uow(), Actor.system("survey"), reference, score=1, comment=SECRET_WORDS
    )
    room.notify()
    thread = [m["text"] for m in room.fake.channels[LOGISTICS] if "thread_ts" in m]
    assert any("0532 417 22 90" in text for text in thread)  # the customer's words in the thread
    assert "0532 417 22 90" in room.fake.dms(ELIF)[-1]["text"]  # and in the lead's alert
    assert "Quillfeather" in slack_holds(room)

    admin = access.staff_actor(room.uow(), email="admin@example.com")
    customer_data.erase_customer_data(room.uow(), admin, reference)
    limit = 2  # what a notice gets; the erasure's is tried past it
    room.notifier.settings = room.notifier.settings.model_copy(
        update={"delivery_retry_seconds": 0.0, "delivery_max_attempts": limit}
    )
    room.fake.fail("chat.update", 503, "service_unavailable", times=limit + 4)
    for _ in range(limit + 6):
        assert room.clock is not None
        room.clock.advance(minutes=1)  # past each retry's time
        room.notify()

    kept = slack_holds(room)
    assert "0532 417 22 90" not in kept and "Quillfeather" not in kept and "jane.q" not in kept
    redacted = translate("tr", "staff.redacted", reference=reference)
    assert [m["text"] for m in room.fake.dms(ELIF)][-1] == redacted
    assert redacted in [m["text"] for m in room.fake.channels[LOGISTICS]]
    assert reference in kept  # the case itself stays, anonymised
    with room.uow() as uow:
        last = uow.session.scalars(select(StaffNotice).order_by(StaffNotice.id.desc()).limit(2)).all()
        outcomes = [(n.kind, n.status, n.attempts) for n in reversed(last)]
    # The change notice gave up at the limit; the erasure went on and redrew the case's message itself.
    assert outcomes == [("case_changed", "failed", limit), ("customer_erased", "done", 5)]
