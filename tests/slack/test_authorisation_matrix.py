"""Every listener of the staff's Slack app, used by every kind of Slack user, against a declared table.

The table (``INTERACTIONS``) is written by hand from the rules of ``ccm_core.domain.policy``, as the
API's matrix is (``tests/api/test_authorisation_matrix.py``): staff act on their own department's
cases, an admin on every department's; closing and reassigning are for leads. A Slack user who is
not staff is told so. Each cell checks what the user sees (the step done, or the refusal in their
language) and that a refusal changed nothing. The app's own listeners are the list of what to check:
one no declared interaction reaches (a new button, form or shortcut), or an interaction no listener
answers, fails the run. A request signed with the wrong secret is refused with 401 by every listener.

The case is a delivery complaint, so it belongs to Logistics: Lukas Schmidt (German) is its agent,
Elif Kaya (Turkish) its lead; Mehmet Demir and Ayşe Yılmaz (Turkish) are agent and lead of Customer
Care; the admin, Deniz Aksoy, has no Slack user in the demo organisation and is given one here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import func, select

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import PermissionDenied
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.domain.records import AuditEvent
from ccm_core.i18n import translate
from ccm_core.service_layer import services
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from channels.slack.app import EVENTS_PATH, StaffApp
from channels.slack.blocks import command_name
from tests.api.test_authorisation_matrix import PathParams, new_case
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, TEAM, channel_id, form, signed
from tests.harness import context, product_settings
from tests.slack.conftest import Staffroom, button_click, view_submission

LOGISTICS = channel_id("#ccm-logistics")
LOGISTICS_NAMES = {"tr": "Lojistik", "en": "Logistics", "de": "Logistik"}
ADMIN_SLACK_ID = "U0ADMIN01"
FORM_CONTENT = "application/x-www-form-urlencoded"


class Caller(Enum):
    STRANGER = "a Slack user who is not staff"
    AGENT = "agent of the case's department"
    LEAD = "lead of the case's department"
    ADMIN = "admin"
    OTHER_AGENT = "agent of another department"
    OTHER_LEAD = "lead of another department"


@dataclass(frozen=True)
class SlackUser:
    id: str
    locale: str  # the language they are answered in
    role: str | None  # None: not staff


USERS = {
    Caller.STRANGER: SlackUser("U0STRANGER", "en", None),  # Slack's locale for them (the stand-in's en-US)
    Caller.AGENT: SlackUser("U0LOG002", "de", "agent"),
    Caller.LEAD: SlackUser("U0LOG001", "tr", "lead"),
    Caller.ADMIN: SlackUser(ADMIN_SLACK_ID, "tr", "admin"),
    Caller.OTHER_AGENT: SlackUser("U0CARE02", "tr", "agent"),
    Caller.OTHER_LEAD: SlackUser("U0CARE01", "tr", "lead"),
}


class Outcome(Enum):
    SUCCEEDS = "succeeds"
    SUCCEEDS_WITHOUT_THE_CASE = "succeeds, the case left out"
    NOT_STAFF = "told they are not staff"
    REFUSED_FOR_ROLE = "refused: role"
    REFUSED_FOR_DEPARTMENT = "refused: other department"


OK = Outcome.SUCCEEDS
HIDDEN = Outcome.SUCCEEDS_WITHOUT_THE_CASE
ROLE = Outcome.REFUSED_FOR_ROLE
DEPARTMENT = Outcome.REFUSED_FOR_DEPARTMENT


def staff_only(
    agent: Outcome, lead: Outcome, admin: Outcome, other_agent: Outcome, other_lead: Outcome
) -> dict[Caller, Outcome]:
    """A rule of the staff app: a Slack user who is not staff is told so, whatever they do."""
    return {
        Caller.STRANGER: Outcome.NOT_STAFF,
        Caller.AGENT: agent,
        Caller.LEAD: lead,
        Caller.ADMIN: admin,
        Caller.OTHER_AGENT: other_agent,
        Caller.OTHER_LEAD: other_lead,
    }


OWN_DEPARTMENT = staff_only(OK, OK, OK, DEPARTMENT, DEPARTMENT)
OWN_DEPARTMENT_LISTED = staff_only(OK, OK, OK, HIDDEN, HIDDEN)
LEADS_OF_OWN_DEPARTMENT = staff_only(ROLE, OK, OK, ROLE, DEPARTMENT)


class Surface(Enum):
    """Where the user acts, and so where they read the answer."""

    BUTTON = "a step's button in the channel: the step is done, said to them alone"
    OPEN = "the Open button: the case modal, or a notice modal saying why not"
    FORM_BUTTON = "a button that opens the step's form, or says why not to them alone"
    SUBMISSION = "a form submitted: the modal updated, or the refusal shown on the form"
    COMMAND = "/ccm <reference>: the case, or why not, to them alone"
    THREAD_REPLY = "a message in the case's thread during a handoff: it goes to the customer"
    HOME = "App Home: their cases"


CHANGING = {Surface.BUTTON, Surface.SUBMISSION}  # a success moves the case on: once per case


@dataclass(frozen=True)
class Interaction:
    """A listener of the app, who gets what from it, and a case on which it succeeds."""

    kind: str  # the listener's kind in Slack's terms: block_actions, view_submission, command, event
    name: str  # its action id, callback id, command or event type
    surface: Surface
    who: dict[Caller, Outcome]
    stage: str = "received"  # see tests.api.test_authorisation_matrix.WALK, and HANDED_OVER
    values: dict[str, Any] = field(default_factory=dict)  # a submission's inputs ("{action_id}" filled in)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


HANDED_OVER = "handed_over"  # received, the customer asked for a person
INTERACTIONS = [
    Interaction("block_actions", "ccm_open", Surface.OPEN, OWN_DEPARTMENT),
    Interaction("block_actions", "ccm_take", Surface.BUTTON, OWN_DEPARTMENT),
    Interaction("block_actions", "ccm_start_review", Surface.BUTTON, OWN_DEPARTMENT),
    Interaction("block_actions", "ccm_send_survey", Surface.BUTTON, OWN_DEPARTMENT, "customer_informed"),
    Interaction("block_actions", "ccm_start_follow_up", Surface.BUTTON, OWN_DEPARTMENT, "customer_informed"),
    Interaction("block_actions", "ccm_close", Surface.BUTTON, LEADS_OF_OWN_DEPARTMENT, "customer_informed"),
    Interaction("block_actions", "ccm_hand_back", Surface.BUTTON, OWN_DEPARTMENT, HANDED_OVER),
    Interaction("block_actions", "ccm_decide", Surface.FORM_BUTTON, OWN_DEPARTMENT, "in_review"),
    Interaction("block_actions", "ccm_add_action", Surface.FORM_BUTTON, OWN_DEPARTMENT, "taking_action"),
    Interaction("block_actions", "ccm_complete_action", Surface.FORM_BUTTON, OWN_DEPARTMENT, "action_open"),
    Interaction("block_actions", "ccm_inform_customer", Surface.FORM_BUTTON, OWN_DEPARTMENT, "actions_done"),
    # The form shows what the case already shows; who may reassign is checked on its submission.
    Interaction("block_actions", "ccm_reassign", Surface.FORM_BUTTON, OWN_DEPARTMENT),
    Interaction(
        "view_submission",
        "ccm_decide",
        Surface.SUBMISSION,
        OWN_DEPARTMENT,
        "in_review",
        {"decision": {"option": "justified"}, "reason": "Carrier damaged the parcel"},
    ),
    Interaction(
        "view_submission",
        "ccm_add_action",
        Surface.SUBMISSION,
        OWN_DEPARTMENT,
        "taking_action",
        {"kind": {"option": "corrective"}, "description": "Send a replacement"},
    ),
    Interaction(
        "view_submission",
        "ccm_complete_action",
        Surface.SUBMISSION,
        OWN_DEPARTMENT,
        "action_open",
        {"action": {"option": "{action_id}"}, "outcome": "Replacement delivered"},
    ),
    Interaction(
        "view_submission",
        "ccm_inform_customer",
        Surface.SUBMISSION,
        OWN_DEPARTMENT,
        "actions_done",
        {"summary": "A replacement was sent."},
    ),
    Interaction(
        "view_submission",
        "ccm_reassign",
        Surface.SUBMISSION,
        LEADS_OF_OWN_DEPARTMENT,
        values={"department": {"option": "quality"}},
    ),
    Interaction("command", "/ccm", Surface.COMMAND, OWN_DEPARTMENT),
    Interaction("event", "message", Surface.THREAD_REPLY, OWN_DEPARTMENT, HANDED_OVER),
    Interaction("event", "app_home_opened", Surface.HOME, OWN_DEPARTMENT_LISTED),
]
_ids = itertools.count(1)


# --- requests as Slack sends them ---


def payload(interaction: Interaction, user: str, params: PathParams, slack_url: str) -> dict[str, Any]:
    """What Slack sends when ``user`` uses ``interaction`` on the case of ``params``."""
    reference = params["reference"]
    if interaction.kind == "block_actions":
        return button_click(slack_url, user, interaction.name, reference, channel=LOGISTICS)
    if interaction.kind == "view_submission":
        view = {
            "type": "modal",
            "callback_id": interaction.name,
            "private_metadata": json.dumps({"reference": reference}),
            "blocks": [{"type": "input", "block_id": block} for block in interaction.values],
        }
        return view_submission(user, view, inputs(interaction.values, params))
    if interaction.kind == "command":
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "channel_id": LOGISTICS,
            "user_id": user,
            "command": interaction.name,
            "text": reference,
            "response_url": f"{slack_url}/respond/{next(_ids)}",
            "trigger_id": f"{next(_ids)}.{next(_ids)}.matrix",
        }
    event: dict[str, Any] = {"type": interaction.name, "user": user, "channel": f"D{user}", "tab": "home"}
    if interaction.name == "message":  # in the thread of the case's post
        event = {"type": "message", "user": user, "channel": LOGISTICS, "text": "Hello, we are on it."}
        event |= {"ts": f"{time.time():.6f}", "thread_ts": params.get("thread")}
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0CCMAPP1",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev0MATRIX{next(_ids)}",
        "event_time": int(time.time()),
    }


def inputs(values: dict[str, Any], params: PathParams) -> dict[str, Any]:
    """A form's ``state.values``: per input block a selected option or a typed text."""
    state: dict[str, Any] = {}
    for block, value in values.items():
        if isinstance(value, dict):
            chosen = {"type": "static_select", "selected_option": {"value": value["option"].format(**params)}}
        else:
            chosen = {"type": "plain_text_input", "value": value}
        state[block] = {"value": chosen}
    return state


def encoded(interaction: Interaction, body: dict[str, Any]) -> tuple[str, str]:
    """The HTTP body and its content type: interactions and commands as forms, events as JSON."""
    if interaction.kind in ("block_actions", "view_submission"):
        return form(body), FORM_CONTENT
    if interaction.kind == "command":
        return urlencode(body), FORM_CONTENT
    return json.dumps(body), "application/json"


# --- the app's listeners ---


@pytest.fixture
def staff_app(tmp_path: Path) -> Iterator[StaffApp]:
    """The staff app as the web server builds it; listing its listeners needs no database."""
    settings = CoreSettings(data_dir=tmp_path)
    engine = create_db_engine(settings.database_url)
    core = Core(settings, engine, lambda: UnitOfWork(session_factory(engine), settings=settings))
    product = product_settings(
        core,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url="http://127.0.0.1:9/api/",
        slack_mode="http",
    )
    yield StaffApp(context(core, product))
    engine.dispose()


def test_every_listener_of_the_app_is_in_the_matrix_and_every_interaction_reaches_one(
    staff_app: StaffApp,
) -> None:
    listeners = staff_app.bolt._async_listeners  # bolt lists its listeners nowhere else
    probe = {"reference": "CMP-2026-000001", "action_id": 1, "thread": "1.000001"}

    async def reached_by(interaction: Interaction) -> list[int]:
        request = AsyncBoltRequest(body=payload(interaction, "U0PROBE", probe, ""), mode="socket_mode")
        return [
            index
            for index, listener in enumerate(listeners)
            if await listener.async_matches(req=request, resp=BoltResponse(status=200))
        ]

    reached = {interaction.label: asyncio.run(reached_by(interaction)) for interaction in INTERACTIONS}
    unreached = [
        f"{listener.ack_function.__name__} (listener {index})"
        for index, listener in enumerate(listeners)
        if not any(index in indices for indices in reached.values())
    ]

    assert unreached == [], "listeners missing from INTERACTIONS: declare who may use them"
    assert {label: len(indices) for label, indices in reached.items() if len(indices) != 1} == {}, (
        "INTERACTIONS that no listener (or more than one) answers"
    )


# --- the matrix ---


def stored(room: Staffroom) -> dict[str, int]:
    """How many complaints, audit events and outbox messages the database holds."""
    with room.uow() as uow:
        return {
            model.__tablename__: uow.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Complaint, AuditEvent, OutboxMessage)
        }


def staff_replies(room: Staffroom, reference: str) -> int:
    with room.uow() as uow:
        return (
            uow.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .join(Complaint)
                .where(Complaint.reference == reference, OutboxMessage.kind == "staff_reply")
            )
            or 0
        )


def case_in(room: Staffroom, stage: str) -> PathParams:
    """A new case at ``stage`` (a stage of the walk, or ``HANDED_OVER``)."""
    if stage != HANDED_OVER:
        return new_case(room.uow, stage)
    params = new_case(room.uow, "received")
    services.request_human(room.uow(), Actor.system("assistant"), params["reference"])
    return params


def posted(room: Staffroom, reference: str) -> str:
    """The case's message in its department's channel, posted by the worker; its ``ts`` heads the thread."""
    room.notify()
    return str(next(m["ts"] for m in room.fake.messages(LOGISTICS) if reference in (m.get("text") or "")))


def expected_sight(interaction: Interaction, caller: Caller, outcome: Outcome, reference: str) -> str:
    """What the table says ``caller`` reads, in their language."""
    user = USERS[caller]
    if outcome is Outcome.NOT_STAFF:
        return translate(user.locale, "staff.unknown_staff")
    if outcome is ROLE:
        refusal = PermissionDenied(why="role", role=user.role, command=interaction.name.removeprefix("ccm_"))
        return refusal.message(user.locale)
    if outcome is DEPARTMENT:
        refusal = PermissionDenied(why="other_department", reference=reference, department=LOGISTICS_NAMES)
        return refusal.message(user.locale)
    return {
        Surface.BUTTON: translate(
            user.locale,
            "staff.done",
            reference=reference,
            command=command_name(user.locale, interaction.name.removeprefix("ccm_")),
        ),
        Surface.OPEN: f"the case modal of {reference}",
        Surface.FORM_BUTTON: f"the form {interaction.name} for {reference}",
        Surface.SUBMISSION: "the modal updated",
        Surface.COMMAND: f"the case {reference}",
        Surface.THREAD_REPLY: "the reply queued for the customer",
        Surface.HOME: f"App Home {'listing' if outcome is OK else 'without'} {reference}",
    }[interaction.surface]


def sight(room: Staffroom, interaction: Interaction, user: str, reference: str, since: int) -> str | None:
    """What ``user`` reads since the ``since``-th call to Slack; None while there is nothing yet."""
    calls = list(room.fake.calls)[since:]
    for call in calls:
        if call.method == "chat.postEphemeral" and call.params.get("user") == user:
            return str(call.params["text"])
        view = call.params.get("view") or {}
        if interaction.surface is Surface.OPEN and call.method == "views.update":
            if view.get("callback_id") == "ccm_case":
                return f"the case modal of {view['private_metadata']}"
            return str(view["blocks"][0]["text"]["text"])
        if interaction.surface is Surface.FORM_BUTTON and call.method == "views.open":
            return f"the form {view['callback_id']} for {json.loads(view['private_metadata'])['reference']}"
        if call.method == "views.publish" and call.params.get("user_id") == user:
            first = view["blocks"][0]
            if first["type"] != "header":
                return str(first["text"]["text"])
            return f"App Home {'listing' if reference in json.dumps(view) else 'without'} {reference}"
    return None


def post(http: httpx.Client, body: str, content_type: str, secret: str = SIGNING_SECRET) -> httpx.Response:
    """A request to the app as Slack sends it, signed with ``secret`` (one client: a new one costs 50 ms)."""
    return http.post(
        EVENTS_PATH, content=body, headers={"Content-Type": content_type, **signed(body, secret)}
    )


def send(room: Staffroom, http: httpx.Client, interaction: Interaction, user: str, params: PathParams) -> str:
    """``user`` uses ``interaction`` on the case; what they then read."""
    reference = params["reference"]
    since, answers, replies = len(room.fake.calls), len(room.fake.responses), 0
    if interaction.surface is Surface.THREAD_REPLY:
        replies = staff_replies(room, reference)
    response = post(http, *encoded(interaction, payload(interaction, user, params, room.fake.url)))
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if interaction.surface is Surface.SUBMISSION:  # answered in the response itself
        answer = response.json()
        if answer.get("response_action") == "update":
            return "the modal updated"
        return str(next(iter(answer.get("errors", {}).values()), answer))
    if interaction.surface is Surface.COMMAND:
        said = room.until(lambda: room.fake.responses[answers:])[0]
        return f"the case {reference}" if reference in json.dumps(said.get("blocks")) else str(said["text"])

    def seen() -> str | None:
        if interaction.surface is Surface.THREAD_REPLY and staff_replies(room, reference) > replies:
            return "the reply queued for the customer"
        return sight(room, interaction, user, reference, since)

    return str(room.until(seen))


@pytest.fixture
def http(staffroom: Staffroom) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=staffroom.url, timeout=30) as client:
        yield client


def test_every_slack_user_sees_what_the_matrix_declares_and_a_refusal_changes_nothing(
    staffroom: Staffroom, http: httpx.Client, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One test for the whole matrix, so every cell that differs is reported at once."""
    room = staffroom
    with room.uow() as uow:  # the demo organisation's admin has no Slack user: give them one
        admin = uow.organisation.staff_by_email("admin@example.com")
        assert admin is not None
        admin.slack_user_id = ADMIN_SLACK_ID
        uow.commit()
    wrong: list[str] = []
    checked = 0

    # The thread's case first: posting it, the worker posts every case waiting, and few wait yet.
    for interaction in sorted(INTERACTIONS, key=lambda each: each.surface is not Surface.THREAD_REPLY):
        fresh = case_in(room, interaction.stage)
        if interaction.surface is Surface.THREAD_REPLY:
            fresh["thread"] = posted(room, fresh["reference"])
        # Refusals first, on a case in the stage where the step succeeds: the first success proves it.
        for caller, outcome in sorted(interaction.who.items(), key=lambda cell: cell[1] is OK):
            params = fresh
            if outcome is OK and interaction.surface in CHANGING:  # a step succeeds once on a case
                params, fresh = fresh or case_in(room, interaction.stage), {}
            before = stored(room)
            try:
                seen = send(room, http, interaction, USERS[caller].id, params)
            except AssertionError:  # room.until: the user was shown nothing
                seen = "nothing"
            expected = expected_sight(interaction, caller, outcome, params["reference"])
            problem = None if seen == expected else f"saw {seen!r}, expected {expected!r}"
            if problem is None and outcome not in (OK, HIDDEN) and stored(room) != before:
                problem = f"refused, yet changed: {before} → {stored(room)}"
            if problem:
                wrong.append(f"{interaction.label} × {caller.value} (declared: {outcome.value}): {problem}")
            checked += 1

    # Signed with another secret, each listener's request is refused before anything is done.
    forged_on = new_case(room.uow, "received")
    before, calls = stored(room), len(room.fake.calls)
    for interaction in INTERACTIONS:
        body, content_type = encoded(
            interaction, payload(interaction, USERS[Caller.LEAD].id, forged_on, room.fake.url)
        )
        response = post(http, body, content_type, secret="not-the-signing-secret")
        if response.status_code != 401:
            wrong.append(
                f"{interaction.label} × a wrong signature: HTTP {response.status_code}, expected 401"
            )
        checked += 1
    time.sleep(0.3)  # bolt refuses before any listener runs; were one run, its calls would show by now
    if (stored(room), len(room.fake.calls)) != (before, calls):
        wrong.append("forged requests changed the database or made calls to Slack")

    with capsys.disabled():  # the figure is shown in every run, not only with -s
        print(f"\nSlack authorisation cells checked on {database_url.partition(':')[0]}: {checked}")
    assert not wrong, f"{len(wrong)} of {checked} cells differ from INTERACTIONS:\n" + "\n".join(wrong)
