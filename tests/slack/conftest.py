"""The product's web server with the staff's Slack app, and Slack played by a local stand-in.

Requests reach ``/slack/events`` as Slack sends them: over HTTP, signed with the app's signing
secret. The app answers through slack-sdk to ``tests/fakes/slack.py``, which records what
staff would see. The notifier (what ``ccm worker`` runs) is run by the test when it wants
the department channel to catch up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from ccm.settings import Settings
from ccm.web import create_app
from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.bootstrap import Core
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels.slack import SlackNotifier
from channels.slack.app import EVENTS_PATH
from tests.conftest import Clock
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack, fake_slack, form, signed
from tests.harness import NOWHERE, context, product_settings
from tests.http_server import serving

_ids = itertools.count(random.randrange(10_000, 90_000))


def slack_settings(core: Core, fake: FakeSlack, rasa_url: str = NOWHERE, **extra: Any) -> Settings:
    """The product's settings with the Slack app on, talking to the local stand-in for Slack."""
    return product_settings(
        core,
        rasa_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{fake.url}/api/",
        slack_mode="http",
        **extra,
    )


def button_click(
    fake_url: str,
    user: str,
    action_id: str,
    value: str,
    *,
    channel: str | None = None,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a button in a channel message or a view."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "ccm"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0CCMAPP1",
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_ids)}.{next(_ids)}.{random.getrandbits(64):x}",
        "response_url": f"{fake_url}/respond/{next(_ids)}",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "case_buttons",
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
    else:
        assert channel is not None
        payload["container"] = {"type": "message", "channel_id": channel, "message_ts": "1.000001"}
        payload["channel"] = {"id": channel, "name": "ccm"}
    return payload


def view_submission(user: str, view: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """A ``view_submission`` payload as Slack sends it, with the inputs' ``state``."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "ccm"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0CCMAPP1",
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_ids)}.{next(_ids)}.{random.getrandbits(64):x}",
        "view": {**view, "id": view.get("id", f"V{next(_ids)}"), "state": {"values": state}},
    }


@dataclass
class Staffroom:
    """The web server, the Slack stand-in and the worker's notifier, on one database."""

    url: str
    fake: FakeSlack
    core: Core
    notifier: SlackNotifier
    clock: Clock | None = None

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    # --- requests as Slack sends them ---

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": content_type, **(signed(body) if headers is None else headers)}
        return httpx.post(f"{self.url}{EVENTS_PATH}", content=body, headers=sent, timeout=30)

    def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        return self.post(form(payload), "application/x-www-form-urlencoded")

    def click(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """A button: in a channel message (``channel``), in a modal or App Home (``view``)."""
        payload = button_click(self.fake.url, user, action_id, value, channel=channel, view=view)
        return self.interaction(payload)

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        """A modal's submission: per input block a text, ``{"option": value}`` or ``{"date": iso}``."""
        state: dict[str, Any] = {}
        for block_id, value in values.items():
            if isinstance(value, dict) and "option" in value:
                field = {"type": "static_select", "selected_option": {"value": value["option"]}}
            elif isinstance(value, dict) and "date" in value:
                field = {"type": "datepicker", "selected_date": value["date"]}
            else:
                field = {"type": "plain_text_input", "value": value}
            state[block_id] = {"value": field}
        return self.interaction(view_submission(user, view, state))

    def command(self, user: str, text: str) -> httpx.Response:
        fields = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "channel_id": "C0GENERAL",
            "user_id": user,
            "command": "/ccm",
            "text": text,
            "response_url": f"{self.fake.url}/respond/{next(_ids)}",
            "trigger_id": f"{next(_ids)}.{next(_ids)}.{random.getrandbits(64):x}",
        }
        return self.post(urlencode(fields), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str | None = None) -> httpx.Response:
        body = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0CCMAPP1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids)}",
            "event_time": int(time.time()),
        }
        return self.post(json.dumps(body), "application/json")

    # --- waiting for the work done after the acknowledgement ---

    def until(self, found: Callable[[], Any], seconds: float = 10) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if value := found():
                return value
            time.sleep(0.02)
        raise AssertionError("what the test waited for did not happen")

    def calls_after(self, method: str, count: int) -> list[dict[str, Any]]:
        """Waits for the ``method`` calls made after the first ``count``."""
        return self.until(lambda: self.fake.called(method)[count:])

    def notify(self) -> int:
        """Runs the worker's notifier until no staff notice is due; returns how many it handled."""

        async def drain() -> int:
            handled = 0
            while handled_now := await self.notifier.run_once():
                handled += handled_now
            return handled

        return asyncio.run(drain())


@pytest.fixture
def staffroom(database_url: str, tmp_path: Any) -> Iterator[Staffroom]:
    clock = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    settings = CoreSettings(data_dir=tmp_path, database_url=database_url)
    engine = create_db_engine(database_url)
    sessions = session_factory(engine)
    core = Core(settings, engine, lambda: UnitOfWork(sessions, settings=settings, clock=clock))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    with fake_slack() as fake:
        channels = slack_settings(core, fake)
        ctx = context(core, channels)
        notifier = SlackNotifier(ctx, AsyncWebClient(token=BOT_TOKEN, base_url=f"{fake.url}/api/"), "test")
        try:
            with serving(create_app(core, channels)) as url:
                yield Staffroom(url, fake, core, notifier, clock)
        finally:
            engine.dispose()
