"""The worker's timer loop for review delay notices, run as the worker runs it, on real time."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.engine import Engine

from ccm.worker import run_review_delay_notices_forever
from ccm_core.adapters.db import session_factory
from ccm_core.bootstrap import Core
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.service.helpers import outbox, record


def test_the_worker_tells_the_customer_when_the_review_runs_long_and_logs_counts_only(
    uow: UnitOfWork, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Recorded on the test clock's day: its decision deadline passed long before the real now.
    reference = record(uow, category="delivery", language="tr").reference
    core = Core(uow.settings, engine, lambda: UnitOfWork(session_factory(engine), settings=uow.settings))

    def told() -> list[str]:
        return [m.body for m in outbox(uow, reference) if m.kind == "review_delayed"]

    async def run_until_told() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(run_review_delay_notices_forever(core, stop, every_seconds=0.05))
        for _ in range(200):
            if told():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a few more rounds: none may tell the customer again
        stop.set()
        await asyncio.wait_for(loop, 5)

    with caplog.at_level(logging.INFO, logger="ccm.worker"):
        asyncio.run(run_until_told())
    [body] = told()
    assert reference in body and "Lojistik" in body
    assert [r.getMessage() for r in caplog.records] == ["review delay notices sent: 1"]
