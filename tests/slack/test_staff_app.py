"""Department staff work a case in Slack: what they see, what they may do, and what is refused.

Every request is signed and sent over HTTP to the product's web server; Slack's Web API is the
local stand-in. Staff of the demo organisation: Elif Kaya (U0LOG001, lead, Turkish) and Lukas
Schmidt (U0LOG002, agent, German) in Logistics; Mehmet Demir (U0CARE02, agent, Turkish) in
Customer Care; Deniz Aksoy is the admin without a Slack id.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage, StaffNotice
from ccm_core.domain.records import AuditEvent
from ccm_core.domain.sla import SlaStep
from ccm_core.i18n import translate
from ccm_core.service_layer import access, services, views
from ccm_core.service_layer.mail_intake import MailFile
from ccm_core.service_layer.staff_notices import raise_sla_alerts
from tests.fakes.slack import SIGNING_SECRET, channel_id, signed
from tests.fakes.slack import form as interaction_body
from tests.service.helpers import audit_actions, mailed_case, record
from tests.slack.conftest import Staffroom

ELIF, LUKAS, MEHMET = "U0LOG001", "U0LOG002", "U0CARE02"
LOGISTICS = channel_id("#ccm-logistics")


def texts_of(blocks: list[dict[str, Any]]) -> str:
    """Everything a reader sees in Block Kit blocks, as one string."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn"):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """The buttons in ``blocks``: visible label → action id."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                found[node["text"]["text"]] = node["action_id"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def case_message(room: Staffroom, reference: str) -> dict[str, Any]:
    found = [m for m in room.fake.messages(LOGISTICS) if reference in (m.get("text") or "")]
    assert len(found) == 1, f"expected one message for {reference} in #ccm-logistics, found {len(found)}"
    return found[0]


def opened_modal(room: Staffroom, user: str, reference: str) -> dict[str, Any]:
    """Clicks Open in the channel message: a modal opens at once and then shows the case."""
    before = len(room.fake.called("views.update"))
    assert room.click(user, "ccm_open", reference, channel=LOGISTICS).status_code == 200
    filled = room.calls_after("views.update", before)[0]
    return {**filled["view"], "id": filled["view_id"]}


def press_in_modal(room: Staffroom, user: str, modal: dict[str, Any], action_id: str) -> dict[str, Any]:
    """A button in the case modal that runs a step at once; returns the modal as updated."""
    before = len(room.fake.called("views.update"))
    assert room.click(user, action_id, modal["private_metadata"], view=modal).status_code == 200
    update = room.calls_after("views.update", before)[0]
    assert update["view_id"] == modal["id"]
    return {**update["view"], "id": modal["id"]}


def form_from_modal(room: Staffroom, user: str, modal: dict[str, Any], action_id: str) -> dict[str, Any]:
    """A button in the case modal that asks for details: the form pushed on top of it."""
    before = len(room.fake.called("views.push"))
    assert room.click(user, action_id, modal["private_metadata"], view=modal).status_code == 200
    return room.calls_after("views.push", before)[0]["view"]


def submitted(room: Staffroom, user: str, form: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    response = room.submit(user, form, values)
    assert response.status_code == 200, response.text
    return response.json()


def status_of(room: Staffroom, reference: str) -> str:
    return views.get_complaint(room.uow(), Actor.system(), reference).status


def test_a_case_walks_from_new_to_closed_in_slack(staffroom: Staffroom) -> None:
    room = staffroom
    case = record(room.uow(), channel="phone", language="en", category="delivery")
    reference = case.reference

    # A new complaint is posted to the department's channel in its lead's language (Elif: Turkish).
    assert room.notify() == 1
    message = case_message(room, reference)
    shown = texts_of(message["blocks"])
    assert message["text"] == f"Yeni şikayet {reference}: Şikayet Kaydının Oluşturulması"
    assert f"Şikayet {reference}" in shown
    assert "Teslimat" in shown and "Telefon" in shown and "İngilizce" in shown
    assert "Kargom hasarlı geldi" in shown  # the first lines of the text
    assert "alındı bildirimi" in shown  # the next deadline: the acknowledgement
    assert buttons(message["blocks"]) == {"Üstlen": "ccm_take", "Aç": "ccm_open"}

    # Lukas takes it: he is told in German, and the channel message shows him as the one who took it.
    assert room.click(LUKAS, "ccm_take", reference, channel=LOGISTICS).status_code == 200
    told = room.until(lambda: room.fake.ephemerals(LUKAS))
    assert told[-1]["text"] == f"{reference}: den Fall übernehmen, erledigt."
    room.notify()
    assert "Lukas Schmidt" in texts_of(case_message(room, reference)["blocks"])

    # The case modal, in German, offers what the state allows.
    modal = opened_modal(room, LUKAS, reference)
    assert modal["title"]["text"] == "Beschwerde"
    offered = buttons(modal["blocks"])
    assert offered["Prüfung beginnen (03)"] == "ccm_start_review"
    assert "Entscheiden (06)" not in offered

    modal = press_in_modal(room, LUKAS, modal, "ccm_start_review")
    assert status_of(room, reference) == "in_review"
    assert "Entscheiden (06)" in buttons(modal["blocks"])
    with room.core.unit_of_work() as uow:
        kinds = uow.session.scalars(select(OutboxMessage.kind)).all()
    assert "interim_notice" in kinds  # 05: the customer's interim notice is queued

    form = form_from_modal(room, LUKAS, modal, "ccm_decide")
    assert "Englisch" in texts_of(form["blocks"])  # the explanation would be read in the customer's language
    answer = submitted(
        room, LUKAS, form, {"decision": {"option": "justified"}, "reason": "Broken in transit"}
    )
    assert answer["response_action"] == "update"
    assert status_of(room, reference) == "taking_action"

    modal = {**answer["view"], "id": "V-after-decision"}
    form = form_from_modal(room, LUKAS, modal, "ccm_add_action")
    answer = submitted(
        room,
        LUKAS,
        form,
        {
            "kind": {"option": "corrective"},
            "description": "Send a replacement",
            "owner": "lukas.schmidt@example.com",
            "due_date": {"date": "2026-12-10"},
        },
    )
    case_now = views.get_complaint(room.uow(), Actor.system(), reference)
    assert [(a.kind, a.description, a.owner, a.due_date) for a in case_now.actions] == [
        ("corrective", "Send a replacement", "lukas.schmidt@example.com", dt.date(2026, 12, 10))
    ]
    modal = {**answer["view"], "id": "V-after-action"}
    form = form_from_modal(room, LUKAS, modal, "ccm_complete_action")
    action_id = str(case_now.actions[0].id)
    answer = submitted(
        room, LUKAS, form, {"action": {"option": action_id}, "outcome": "Replacement delivered"}
    )
    assert answer["response_action"] == "update"

    modal = {**answer["view"], "id": "V-after-complete"}
    form = form_from_modal(room, LUKAS, modal, "ccm_inform_customer")
    answer = submitted(room, LUKAS, form, {"summary": "We sent you a new parcel; it arrived on Monday."})
    assert status_of(room, reference) == "customer_informed"

    # Only a lead may close: Lukas is refused, in German, saying why; Elif closes.
    modal = {**answer["view"], "id": "V-after-inform"}
    assert room.click(LUKAS, "ccm_close", reference, view=modal).status_code == 200
    refusal = room.until(lambda: room.fake.dms(LUKAS))
    assert refusal[-1]["text"] == "Ihre Rolle (agent) darf 'die Beschwerde abschließen' nicht ausführen."
    assert status_of(room, reference) == "customer_informed"
    assert room.click(ELIF, "ccm_close", reference, channel=LOGISTICS).status_code == 200
    room.until(lambda: status_of(room, reference) == "closed")

    room.notify()
    assert "Kapatıldı" in texts_of(
        case_message(room, reference)["blocks"]
    )  # updated in place, still one message
    assert len([m for m in room.fake.messages(LOGISTICS) if reference in m["text"]]) == 1

    # Every step is audited with the staff member and their Slack user.
    with room.core.unit_of_work() as uow:
        actors = dict(
            uow.session.execute(
                select(AuditEvent.action, AuditEvent.actor)
                .join(Complaint, AuditEvent.complaint_id == Complaint.id)
                .where(Complaint.reference == reference)
            ).all()
        )
    lukas = "staff:lukas.schmidt@example.com (slack:U0LOG002)"
    for action in (
        "take",
        "start_review",
        "decide_justified",
        "add_action",
        "complete_action",
        "inform_customer",
    ):
        assert actors[action] == lukas
    assert actors["close"] == "staff:elif.kaya@example.com (slack:U0LOG001)"


def walk_to_survey(room: Staffroom, reference: str) -> None:
    lead = access.staff_actor(room.uow(), email="elif.kaya@example.com")
    services.start_review(room.uow(), lead, reference)
    services.decide_complaint(room.uow(), lead, reference, justified=True, reason="Late")
    case = services.add_action(room.uow(), lead, reference, kind="corrective", description="Refund shipping")
    services.complete_action(room.uow(), lead, reference, action_id=case.actions[0].id, outcome="Refunded")
    services.inform_customer(room.uow(), lead, reference, summary="We refunded the shipping costs.")
    services.send_survey(room.uow(), lead, reference)


def test_a_follow_up_round_at_the_limit_alerts_the_lead_once(staffroom: Staffroom) -> None:
    room = staffroom
    reference = record(room.uow(), channel="telegram", language="tr", category="delivery").reference
    walk_to_survey(room, reference)
    lead = access.staff_actor(room.uow(), email="elif.kaya@example.com")
    services.record_survey_answer(room.uow(), lead, reference, score=2)  # round 1 of 2
    case = services.add_action(room.uow(), lead, reference, kind="corrective", description="Call back")
    services.complete_action(room.uow(), lead, reference, action_id=case.actions[-1].id, outcome="Called")
    services.inform_customer(room.uow(), lead, reference, summary="We called you back.")
    services.send_survey(room.uow(), lead, reference)
    services.record_survey_answer(room.uow(), lead, reference, score=1)  # round 2 of 2: the limit
    room.notify()

    exceeded = [dm["text"] for dm in room.fake.dms(ELIF) if "takip turunda da memnun değil" in dm["text"]]
    assert exceeded == [
        f"{reference} (logistics): müşteri 2. takip turunda da memnun değil; tur sınırı 2. "
        "Lütfen vakayla bizzat ilgilenin."
    ]


def test_a_dissatisfied_answer_alerts_the_lead_and_staff_work_the_follow_up_round(
    staffroom: Staffroom,
) -> None:
    room = staffroom
    reference = record(room.uow(), channel="telegram", language="tr", category="delivery").reference
    walk_to_survey(room, reference)
    room.notify()
    services.record_survey_answer(
        room.uow(), Actor.system("survey"), reference, score=2, comment="Hâlâ bekliyorum"
    )
    assert status_of(room, reference) == "follow_up"

    room.notify()
    alert = room.fake.dms(ELIF)[-1]
    assert alert["text"] == (
        f"{reference} (logistics): müşteri memnun değil (puan 2/5); 1. takip turu başladı.\n"
        "Müşterinin yorumu: “Hâlâ bekliyorum”"
    )
    assert buttons(alert["blocks"]) == {"Aç": "ccm_open"}

    # App Home lists the waiting follow-up; Lukas opens it from there and works the new round.
    assert (
        room.event(
            {"type": "app_home_opened", "user": LUKAS, "channel": "D0LUKAS", "tab": "home"}
        ).status_code
        == 200
    )
    home = room.until(lambda: [c for c in room.fake.called("views.publish") if c["user_id"] == LUKAS])[-1][
        "view"
    ]
    shown = texts_of(home["blocks"])
    assert "Wartende Nachverfolgungen (11)" in shown and reference in shown

    modal = opened_modal(room, LUKAS, reference)
    assert "Maßnahme hinzufügen (07)" in buttons(modal["blocks"])
    form = form_from_modal(room, LUKAS, modal, "ccm_add_action")
    answer = submitted(
        room, LUKAS, form, {"kind": {"option": "preventive"}, "description": "Call the courier daily"}
    )
    case = views.get_complaint(room.uow(), Actor.system(), reference)
    new_action = next(a for a in case.actions if a.follow_up_round == 1)
    form = form_from_modal(room, LUKAS, {**answer["view"], "id": "V1"}, "ccm_complete_action")
    answer = submitted(
        room, LUKAS, form, {"action": {"option": str(new_action.id)}, "outcome": "Agreed with courier"}
    )
    form = form_from_modal(room, LUKAS, {**answer["view"], "id": "V2"}, "ccm_inform_customer")
    answer = submitted(room, LUKAS, form, {"summary": "Kurye firmasıyla günlük takip başlattık."})
    modal = press_in_modal(room, LUKAS, {**answer["view"], "id": "V3"}, "ccm_send_survey")
    case = views.get_complaint(room.uow(), Actor.system(), reference)
    assert case.status == "survey_sent" and case.follow_up_round == 1
    with room.core.unit_of_work() as uow:
        kinds = uow.session.scalars(
            select(OutboxMessage.kind)
            .join(Complaint)
            .where(Complaint.reference == reference)
            .order_by(OutboxMessage.id)
        ).all()
    assert kinds[-2:] == ["action_summary", "survey"]  # 08 again, then 09 again
    assert "Umfrage senden (09)" not in buttons(modal["blocks"])


def test_two_staff_deciding_at_once_record_one_decision_and_the_other_sees_who_decided(
    staffroom: Staffroom,
) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery").reference
    services.start_review(
        room.uow(), access.staff_actor(room.uow(), email="elif.kaya@example.com"), reference
    )
    form = {
        "type": "modal",
        "callback_id": "ccm_decide",
        "private_metadata": json.dumps({"reference": reference}),
        "blocks": [
            {"type": "input", "block_id": "decision"},
            {"type": "input", "block_id": "reason"},
            {"type": "input", "block_id": "explanation"},
        ],
    }
    choices = {
        ELIF: {"decision": {"option": "justified"}, "reason": "The courier lost it"},
        LUKAS: {
            "decision": {"option": "unjustified"},
            "reason": "Delivered on time",
            "explanation": "Zugestellt.",
        },
    }
    with ThreadPoolExecutor(2) as pool:
        answers = dict(
            zip(choices, pool.map(lambda u: room.submit(u, form, choices[u]).json(), choices), strict=True)
        )

    kept = [user for user, answer in answers.items() if answer["response_action"] == "update"]
    refused = [user for user, answer in answers.items() if answer["response_action"] == "errors"]
    assert len(kept) == 1 and len(refused) == 1
    case = views.get_complaint(room.uow(), Actor.system(), reference)
    winner = "elif.kaya" if kept == [ELIF] else "lukas.schmidt"
    assert case.decision == ("justified" if kept == [ELIF] else "unjustified")
    assert winner in (case.decided_by or "")
    error = next(iter(answers[refused[0]]["errors"].values()))
    assert reference in error and winner in error  # already decided, and by whom
    assert (
        audit_actions(room.uow(), reference).count("decide_justified")
        + audit_actions(room.uow(), reference).count("decide_unjustified")
        == 1
    )


def count_rows(room: Staffroom, entity: type) -> int:
    with room.core.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(entity)) or 0


def test_staff_of_another_department_and_strangers_are_refused_alone_and_in_their_language(
    staffroom: Staffroom,
) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery").reference
    room.notify()
    audits = count_rows(room, AuditEvent)

    assert room.click(MEHMET, "ccm_take", reference, channel=LOGISTICS).status_code == 200
    refusal = room.until(lambda: room.fake.ephemerals(MEHMET))[-1]
    assert refusal["channel"] == LOGISTICS
    assert (
        refusal["text"]
        == (
            f"{reference} numaralı şikayet Lojistik departmanına ait; yalnızca kendi departmanınızın "
            "şikayetleri üzerinde işlem yapabilirsiniz."
        )
        or "Lojistik" in refusal["text"]
        or "logistics" in refusal["text"]
    )

    room.fake.locales["U0STRANGER"] = "de-DE"
    assert room.click("U0STRANGER", "ccm_open", reference, channel=LOGISTICS).status_code == 200
    stranger = room.until(lambda: room.fake.ephemerals("U0STRANGER"))[-1]
    assert stranger["text"] == translate("de", "staff.unknown_staff")

    assert room.command(MEHMET, reference).status_code == 200
    said = room.until(lambda: room.fake.responses)[-1]
    assert said["response_type"] == "ephemeral"
    assert said["text"] == refusal["text"]

    assert count_rows(room, AuditEvent) == audits  # nothing changed
    assert status_of(room, reference) == "received"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no signature"),
        (signed("{}", secret="not-the-signing-secret"), "wrong secret"),
        ("stale", "a request from ten minutes ago"),
        ("other body", "a signature of another body"),
    ],
)
def test_unsigned_forged_or_stale_requests_get_401_and_change_nothing(
    staffroom: Staffroom, headers: Any, why: str
) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery").reference
    payload = {
        "type": "block_actions",
        "team": {"id": "T0CCM0001"},
        "user": {"id": ELIF},
        "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": LOGISTICS, "message_ts": "1.1"},
        "channel": {"id": LOGISTICS},
        "actions": [{"action_id": "ccm_take", "block_id": "b", "value": reference, "type": "button"}],
    }
    body = interaction_body(payload)
    if headers == "stale":
        headers = signed(body, timestamp=int(time.time()) - 600)
    elif headers == "other body":
        headers = signed(interaction_body({**payload, "user": {"id": LUKAS}}))
    audits, calls = count_rows(room, AuditEvent), len(room.fake.calls)

    response = room.post(body, "application/x-www-form-urlencoded", headers=headers)

    assert response.status_code == 401, why
    time.sleep(0.3)
    assert count_rows(room, AuditEvent) == audits
    assert len(room.fake.calls) == calls  # no answer of any kind went to Slack
    assert SIGNING_SECRET not in response.text


def test_slash_command_finds_a_case_lists_mine_and_gives_this_months_figures(staffroom: Staffroom) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery", language="de").reference
    other = record(room.uow(), category="delivery").reference
    lukas = access.staff_actor(room.uow(), email="lukas.schmidt@example.com")
    services.take_complaint(room.uow(), lukas, reference)
    services.start_review(room.uow(), lukas, reference)
    services.decide_complaint(room.uow(), lukas, reference, justified=True, reason="Zu spät")

    def answer(text: str) -> dict[str, Any]:
        before = len(room.fake.responses)
        assert room.command(LUKAS, text).status_code == 200
        return room.until(lambda: room.fake.responses[before:])[0]

    found = answer(reference.lower())
    assert found["response_type"] == "ephemeral"
    assert f"Beschwerde {reference}" in texts_of(found["blocks"])
    assert "Prozess der Maßnahmenergreifung" in texts_of(found["blocks"]) or "Maßnahmen" in texts_of(
        found["blocks"]
    )

    mine = texts_of(answer("mine")["blocks"])
    assert "Ihre offenen Fälle" in mine and reference in mine and other not in mine

    stats = answer("stats")["text"]
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert f"Zahlen für {month} (logistics)" in stats
    assert "Eingegangen: 2" in stats and "Berechtigt: 1" in stats and "Anteil berechtigt: 100%" in stats

    assert answer("hilfe")["text"] == translate("de", "staff.help")


def test_sla_breaches_alert_the_lead_once_each(staffroom: Staffroom) -> None:
    room = staffroom
    case = record(room.uow(), category="delivery")
    reference = case.reference
    room.notify()
    assert room.clock is not None
    # The one-hour acknowledgement deadline counts in the department's working hours, so it is
    # read from the case: the test's clock starts at the real time, and evenings and weekends vary.
    acknowledge_by = next(step.due_at for step in case.sla if step.step == SlaStep.ACKNOWLEDGE)
    assert acknowledge_by is not None
    room.clock.now = acknowledge_by + dt.timedelta(minutes=1)

    assert raise_sla_alerts(room.uow(), soon_hours=0) == 1
    assert raise_sla_alerts(room.uow(), soon_hours=0) == 0  # once each, however often the worker looks
    room.notify()
    alerts = [m for m in room.fake.dms(ELIF) if reference in m["text"]]
    assert len(alerts) == 1
    assert "alındı bildirimi süresi" in alerts[0]["text"]
    with room.core.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).where(StaffNotice.kind == "sla_breach")) == 1


def test_a_lead_reassigns_a_case_and_it_moves_to_the_other_departments_channel(staffroom: Staffroom) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery").reference
    room.notify()
    modal = opened_modal(room, ELIF, reference)
    form = form_from_modal(room, ELIF, modal, "ccm_reassign")
    offered = [o["value"] for o in form["blocks"][-1]["element"]["options"]]
    assert "logistics" not in offered and "quality" in offered
    answer = submitted(room, ELIF, form, {"department": {"option": "quality"}})
    assert answer["response_action"] == "update"
    assert views.get_complaint(room.uow(), Actor.system(), reference).department == "quality"

    room.notify()
    quality = [m for m in room.fake.messages("#ccm-quality") if reference in m["text"]]
    assert len(quality) == 1
    assert "Kalite" in texts_of(quality[0]["blocks"])  # Zeynep Çelik, Quality's lead, reads Turkish
    assert buttons(quality[0]["blocks"]) == {"Üstlen": "ccm_take", "Aç": "ccm_open"}
    old = case_message(room, reference)  # the logistics message shows where the case went, without buttons
    assert "Kalite" in texts_of(old["blocks"]) and buttons(old["blocks"]) == {}

    # Logistics may no longer act on it.
    assert room.click(LUKAS, "ccm_take", reference, channel=LOGISTICS).status_code == 200
    refusal = room.until(lambda: room.fake.ephemerals(LUKAS))[-1]["text"]
    assert refusal == (
        f"Die Beschwerde {reference} gehört zur Abteilung Qualität; Sie dürfen nur Beschwerden Ihrer "
        "eigenen Abteilung bearbeiten."
    )
    assert views.get_complaint(room.uow(), Actor.system(), reference).assignee is None


def test_a_form_slack_no_longer_lets_us_open_is_reported_to_the_clicker(staffroom: Staffroom) -> None:
    room = staffroom
    reference = record(room.uow(), category="delivery").reference
    services.start_review(
        room.uow(), access.staff_actor(room.uow(), email="elif.kaya@example.com"), reference
    )
    modal = opened_modal(room, LUKAS, reference)
    room.fake.fail("views.push", 200, "expired_trigger_id")  # the click's trigger ran out before the form
    assert room.click(LUKAS, "ccm_decide", reference, view=modal).status_code == 200
    told = room.until(lambda: room.fake.dms(LUKAS))
    assert told[-1]["text"] == translate("de", "staff.slack_failed")
    assert status_of(room, reference) == "in_review"


def test_the_case_modal_lists_the_files_the_customer_sent_and_which_were_refused(
    staffroom: Staffroom,
) -> None:
    room = staffroom
    reference = mailed_case(
        room.uow(),
        MailFile("fatura <ekim>.pdf", "application/pdf", b"%PDF-1.4" + b" " * 1_499_992),
        MailFile("video kaydı.mp4", "video/mp4", b"\x00" * 4_200_000),
        MailFile("not.txt", "text/plain", b"Kutu ezikti."),
        text="Merhaba, siparişim hasarlı geldi. Fatura, video ve notum ekte.",
    )

    # Elif reads Turkish, Lukas German: sizes in their notation, the refusal in their words, the
    # names as text (never Slack markup).
    shown = texts_of(opened_modal(room, ELIF, reference)["blocks"])
    assert (
        "*Müşterinin gönderdiği dosyalar*\n"
        "• fatura &lt;ekim&gt;.pdf (application/pdf, 1,5 MB)\n"
        "• video kaydı.mp4 (video/mp4, 4,2 MB) — saklanmadı: boyut sınırını aşıyor; müşteriye bildirildi\n"
        "• not.txt (text/plain, 1 KB)"
    ) in shown
    shown = texts_of(opened_modal(room, LUKAS, reference)["blocks"])
    assert "*Vom Kunden gesendete Dateien*\n" in shown
    assert "• video kaydı.mp4 (video/mp4, 4,2 MB) — nicht gespeichert: größer als erlaubt" in shown
