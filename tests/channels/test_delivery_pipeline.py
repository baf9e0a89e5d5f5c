"""The worker keeps deliveries under way rather than going batch by batch: a message held up by its
platform holds up its own place only, and a stopping worker finishes what it has under way."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from ccm_core.bootstrap import Core
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from channels.delivery import DeliveryWorker
from channels.messages import Reply
from channels.sending import Notice
from tests.harness import context, product_settings
from tests.service.helpers import outbox, record

CUSTOMERS = [f"customer{number}@example.com" for number in range(6)]


class HeldUpSender:
    """An e-mail relay that takes every mail at once, but one recipient's only when released."""

    channel = "email"
    idempotent = False

    def __init__(self, held_up: str) -> None:
        self.held_up = held_up
        self.released = asyncio.Event()
        self.sent: list[str] = []

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        return [Reply(notice.body).as_json()]

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        if address == self.held_up:
            await self.released.wait()
        self.sent.append(address)


async def until(condition: Any, seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def test_a_message_held_up_holds_up_its_own_place_only(
    uow: UnitOfWork, settings: CoreSettings, engine: Engine, make_uow: Any
) -> None:
    core = Core(settings, engine, make_uow)
    references = [
        record(core.unit_of_work(), channel="email", customer=CustomerDetails(email=address)).reference
        for address in CUSTOMERS
    ]
    product = product_settings(core, worker_batch=2, worker_poll_seconds=0.05)
    sender = HeldUpSender(held_up=CUSTOMERS[0])  # the oldest message: in the first claim

    async def deliver() -> None:
        stop = asyncio.Event()
        worker = DeliveryWorker(context(core, product), {"email": sender}, "pipeline-worker")
        running = asyncio.create_task(worker.run_forever(stop))
        await until(lambda: len(sender.sent) == len(CUSTOMERS) - 1)  # batch by batch it would wait here
        assert CUSTOMERS[0] not in sender.sent
        stop.set()
        await asyncio.sleep(0.3)
        assert not running.done()  # a stopping worker finishes the delivery under way
        sender.released.set()
        await asyncio.wait_for(running, 20)

    asyncio.run(deliver())
    assert sorted(sender.sent) == sorted(CUSTOMERS)  # each once
    assert {
        message.status for reference in references for message in outbox(core.unit_of_work(), reference)
    } == {"delivered"}
