"""The staff's side in Slack: the bolt app (``app``), its Block Kit (``blocks``) and the notifier.

``ccm serve`` mounts the app at ``/slack/events`` (HTTP mode, the default) or connects it
to Slack by Socket Mode (``CCM_SLACK_MODE=socket``); ``ccm worker`` runs the notifier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from channels.slack.app import EVENTS_PATH, StaffApp, routes
from channels.slack.notifier import SlackNotifier

__all__ = ["EVENTS_PATH", "SlackNotifier", "StaffApp", "routes", "socket_mode"]


@asynccontextmanager
async def socket_mode(staff_app: StaffApp, app_token: str) -> AsyncIterator[None]:
    """Connected to Slack by Socket Mode for as long as the context lasts.

    The first WebSocket URL is asked for here, so a token Slack refuses fails the start-up at
    once: slack-sdk's ``connect`` would ask again every few seconds, for ever, and the server
    would never start. Once connected, slack-sdk reconnects by itself.
    """
    handler = AsyncSocketModeHandler(staff_app.bolt, app_token)
    try:
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await handler.connect_async()
        yield
    finally:
        await handler.close_async()
