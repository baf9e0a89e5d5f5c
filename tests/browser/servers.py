"""The web chat served for real in tests: uvicorn in a thread on a free port, on the assistant's database.

Shared by the socket.io tests (``tests/channels/test_web_chat.py``) and the browser tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.model import OutboxMessage
from channels import web
from channels.context import channel_context
from channels.delivery import DeliveryWorker
from channels.settings import ChannelSettings
from tests.conftest import Assistant
from tests.http_server import serving


@dataclass
class WebChat:
    url: str
    core: Core


@contextmanager
def web_chat(
    assistant: Assistant, rasa_url: str | None = None, redis_url: str = "", port: int | None = None
) -> Iterator[WebChat]:
    """A replica of the web server (``mount(FastAPI(), ctx)``) on the assistant's database and Rasa."""
    core = bootstrap(assistant.settings)
    ctx = channel_context(core, channel_settings(rasa_url or assistant.rasa.url, redis_url))
    try:
        with serving(web.mount(FastAPI(), ctx), port) as url:
            yield WebChat(url, core)
    finally:
        core.engine.dispose()


def channel_settings(rasa_url: str, redis_url: str = "") -> ChannelSettings:
    return ChannelSettings(rasa_url=rasa_url, rasa_token="", redis_url=redis_url)


def deliver_outbox(assistant: Assistant, outbox_id: int) -> None:
    """The real delivery worker, run until the given web chat message left the outbox.

    It runs on a thread of its own: Playwright's sync API keeps an event loop on the test's thread.
    """

    async def deliver() -> None:
        core = bootstrap(assistant.settings)
        ctx = channel_context(core, channel_settings(assistant.rasa.url))
        worker = DeliveryWorker(ctx, {"web": web.sender(ctx)}, "web-chat-test")
        try:
            for _ in range(50):
                if status(core, outbox_id) == "delivered" or not await worker.run_once():
                    break
            assert status(core, outbox_id) == "delivered", status(core, outbox_id)
        finally:
            await ctx.rasa.aclose()
            core.engine.dispose()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, deliver()).result()


def status(core: Core, outbox_id: int) -> str:
    with core.unit_of_work() as uow:
        return uow.session.get(OutboxMessage, outbox_id).status
