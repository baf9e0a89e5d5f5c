"""Servers for the browser tests: uvicorn in a thread on a free port.

The web chat on the assistant's database (shared with the socket.io tests in
``tests/channels/test_web_chat.py``), and the whole product's web server without an assistant,
for pages that do without one (the admin console, the survey page).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from ccm.web import create_app
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.queues import OutboxMessage
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels import web
from channels.delivery import DeliveryWorker
from tests.conftest import Assistant, empty_database
from tests.harness import context, product_settings
from tests.http_server import free_port, serving


@dataclass
class WebChat:
    url: str
    core: Core


@contextmanager
def web_chat(
    assistant: Assistant, rasa_url: str | None = None, redis_url: str = "", port: int | None = None
) -> Iterator[WebChat]:
    """A replica of the web server (``mount(FastAPI(), ctx)``) on the assistant's database and Rasa."""
    core = bootstrap(assistant.settings.model_copy(update={"redis_url": redis_url}))
    ctx = context(core, product_settings(core, rasa_url or assistant.rasa.url))
    try:
        with serving(web.mount(FastAPI(), ctx), port) as url:
            yield WebChat(url, core)
    finally:
        core.engine.dispose()


@dataclass
class Site:
    url: str
    core: Core


@contextmanager
def product_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The product's web server (``create_app``) on a fresh SQLite database with the demo organisation.

    No assistant runs behind it, and every outside channel is off.
    """
    settings = CoreSettings(data_dir=tmp_path, database_url=empty_database(request, "sqlite", tmp_path))
    core = bootstrap(settings)
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    try:
        with serving(create_app(core, product_settings(core, f"http://127.0.0.1:{free_port()}"))) as url:
            yield Site(url, core)
    finally:
        core.engine.dispose()


def deliver_outbox(assistant: Assistant, outbox_id: int) -> None:
    """The real delivery worker, run until the given web chat message left the outbox.

    It runs on a thread of its own: Playwright's sync API keeps an event loop on the test's thread.
    """

    async def deliver() -> None:
        core = bootstrap(assistant.settings)
        ctx = context(core, product_settings(core, assistant.rasa.url))
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
