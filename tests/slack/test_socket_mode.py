"""The staff's Slack app by Socket Mode (``CCM_SLACK_MODE=socket``): no public URL, one WebSocket.

The product's web server starts with the app-level token; slack-sdk asks the Web API stand-in
(``tests/fakes/slack.py``) for a WebSocket URL with ``apps.connections.open`` and connects to
the Socket Mode stand-in (``tests/fakes/slack_socket_mode.py``). Clicks and slash commands
arrive there as envelopes, as Slack sends them, and each is acknowledged over the socket.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from uvicorn.config import STARTUP_FAILURE

from ccm.settings import Settings
from ccm.web import create_app
from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer import views
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels.slack import blocks
from channels.slack.app import EVENTS_PATH
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, TEAM, FakeSlack, channel_id, fake_slack, form, signed
from tests.fakes.slack_socket_mode import FakeSocketMode, fake_socket_mode
from tests.harness import with_channels
from tests.http_server import serving
from tests.service.helpers import record
from tests.slack.conftest import button_click, slack_settings, view_submission

LUKAS = "U0LOG002"
LOGISTICS = channel_id("#ccm-logistics")
_ids = itertools.count(random.randrange(10_000, 90_000))


@dataclass
class Setup:
    core: Core
    fake: FakeSlack
    sockets: FakeSocketMode
    settings: Settings

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()


@pytest.fixture
def setup(database_url: str, tmp_path: Any) -> Iterator[Setup]:
    settings = CoreSettings(data_dir=tmp_path, database_url=database_url)
    engine = create_db_engine(database_url)
    core = Core(settings, engine, lambda: UnitOfWork(session_factory(engine), settings=settings))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    try:
        with fake_slack() as fake, fake_socket_mode(fake) as sockets:
            # Socket Mode needs the bot token and the app-level token; no signing secret.
            product = with_channels(
                slack_settings(core, fake),
                slack_mode="socket",
                slack_app_token=APP_TOKEN,
                slack_signing_secret="",
            )
            yield Setup(core, fake, sockets, product)
    finally:
        engine.dispose()


def click(fake: FakeSlack, user: str, action_id: str, value: str) -> dict[str, Any]:
    """A button in a channel message, as the ``interactive`` envelope's payload."""
    return button_click(fake.url, user, action_id, value, channel=LOGISTICS)


def command(fake: FakeSlack, user: str, text: str) -> dict[str, str]:
    """``/ccm <text>``, as the ``slash_commands`` envelope's payload."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "channel_id": "C0GENERAL",
        "user_id": user,
        "command": "/ccm",
        "text": text,
        "response_url": f"{fake.url}/respond/{next(_ids)}",
        "trigger_id": f"{next(_ids)}.{next(_ids)}.{random.getrandbits(64):x}",
    }


def until(found: Any, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.02)
    raise AssertionError("what the test waited for did not happen")


def actor_of(uow: UnitOfWork, reference: str, action: str) -> str | None:
    with uow:
        return uow.session.scalar(
            select(AuditEvent.actor)
            .join(Complaint, AuditEvent.complaint_id == Complaint.id)
            .where(Complaint.reference == reference, AuditEvent.action == action)
        )


def test_staff_work_a_case_over_socket_mode_and_the_connection_lasts_as_long_as_the_server(
    setup: Setup,
) -> None:
    fake, sockets = setup.fake, setup.sockets
    reference = record(setup.uow(), category="delivery").reference

    def case_now() -> CaseView:
        return views.get_complaint(setup.uow(), Actor.system(), reference)

    with serving(create_app(setup.core, setup.settings)) as url:
        # Connected at start-up, with the app-level token, to the URL Slack handed out.
        connection = sockets.connected()
        opened = [call for call in fake.calls if call.method == "apps.connections.open"]
        assert [call.token for call in opened] == [APP_TOKEN]
        assert len(sockets.connections) == 1 and sockets.refused == []

        # No HTTP endpoint for Slack in this mode, however well signed the request.
        body = form(click(fake, LUKAS, "ccm_take", reference))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
        assert httpx.post(f"{url}{EVENTS_PATH}", content=body, headers=headers, timeout=10).status_code == 404

        # Lukas takes the case with the channel message's button: acknowledged, then done.
        envelope = sockets.interactive(click(fake, LUKAS, "ccm_take", reference))
        assert sockets.ack(envelope) == {"envelope_id": envelope}
        until(lambda: case_now().assignee)
        case = case_now()
        assert case.assignee == "Lukas Schmidt"
        assert actor_of(setup.uow(), reference, "take") == "staff:lukas.schmidt@example.com (slack:U0LOG002)"
        told = until(lambda: fake.ephemerals(LUKAS))
        assert told[-1]["text"] == f"{reference}: den Fall übernehmen, erledigt."
        assert all(call.token == BOT_TOKEN for call in fake.calls if call.method != "apps.connections.open")

        # /ccm CMP-…: acknowledged over the socket, answered at the command's response URL.
        envelope = sockets.slash_command(command(fake, LUKAS, reference))
        assert sockets.ack(envelope) == {"envelope_id": envelope}
        answer = until(lambda: fake.responses)[-1]
        assert answer["response_type"] == "ephemeral"
        assert f"Beschwerde {reference}" in json.dumps(answer["blocks"], ensure_ascii=False)

        # A modal's refusal travels in the acknowledgement's payload (over HTTP: the response body).
        form_view = blocks.decide_modal(case, "de")
        state = {"decision": {"value": {"type": "static_select", "selected_option": None}}}
        envelope = sockets.interactive(view_submission(LUKAS, form_view, state))
        ack = sockets.ack(envelope)
        assert ack["envelope_id"] == envelope
        assert ack["payload"]["response_action"] == "errors"
        assert list(ack["payload"]["errors"]) == ["decision"] and ack["payload"]["errors"]["decision"]
        assert case_now().status == case.status

        assert connection.open and connection.other == []  # one connection, nothing but acknowledgements

    # The server stopped: the app hung up normally and did not come back.
    (closed,) = sockets.closed(seconds=5)
    assert closed is connection and closed.close_code == 1000
    assert len(fake.called("apps.connections.open")) == 1


def test_an_app_token_slack_refuses_fails_the_start_up_at_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rather than a server that never starts: slack-sdk alone would ask for a URL again and again."""
    exits: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda raised: exits.append(raised.exc_value))
    revoked = with_channels(setup.settings, slack_app_token="xapp-1-A0CCMAPP1-revoked")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="did not start"), serving(create_app(setup.core, revoked)):
        pass
    assert time.monotonic() - started < 5
    # uvicorn gives up as `ccm serve` would: "Application startup failed", exit status 3.
    assert len(exits) == 1 and isinstance(exits[0], SystemExit) and exits[0].code == STARTUP_FAILURE
    assert setup.fake.called("apps.connections.open") == []  # refused: not_authed
    assert setup.sockets.connections == []
