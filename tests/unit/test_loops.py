"""The worker's loop helper, on real (short) time: it stops when told, outlives a failed round, waits."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from channels.loops import run_every

log = logging.getLogger("tests.loops")
EARLY = 0.01  # asyncio may wake a timer this much before its time


def test_a_round_that_found_work_is_followed_at_once_and_any_other_waits() -> None:
    outcomes = [True, True, False, None]
    started: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def step() -> bool | None:
            started.append(asyncio.get_running_loop().time())
            if len(started) == len(outcomes):
                stop.set()
            return outcomes[len(started) - 1]

        await run_every(stop, 0.2, step)

    asyncio.run(scenario())
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert len(started) == 4
    assert gaps[0] < 0.1 and gaps[1] < 0.1  # True: straight on
    assert gaps[2] >= 0.2 - EARLY  # False: the wait


def test_stop_ends_the_wait_at_once_and_no_round_follows() -> None:
    rounds = 0

    async def scenario() -> float:
        stop = asyncio.Event()

        async def step() -> None:
            nonlocal rounds
            rounds += 1

        loop = asyncio.create_task(run_every(stop, 60, step))
        await asyncio.sleep(0.05)
        stopped_at = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(loop, 5)
        return asyncio.get_running_loop().time() - stopped_at

    assert asyncio.run(scenario()) < 1  # not the 60 s wait
    assert rounds == 1


def test_a_failed_round_is_logged_with_its_traceback_and_the_loop_goes_on_after_the_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def step() -> bool:
            started.append(asyncio.get_running_loop().time())
            if len(started) == 1:
                raise ConnectionError("the database is away")
            stop.set()
            return True

        def failed(error: Exception) -> None:
            log.exception("round failed (%s)", type(error).__name__)

        await run_every(stop, 0.2, step, on_error=failed)

    with caplog.at_level(logging.INFO, logger="tests.loops"):
        asyncio.run(scenario())
    [record] = caplog.records
    assert record.getMessage() == "round failed (ConnectionError)"
    assert record.exc_info and record.exc_info[0] is ConnectionError
    assert len(started) == 2
    assert started[1] - started[0] >= 0.2 - EARLY  # a failed round waits like an idle one


def test_without_on_error_a_failed_round_ends_the_loop() -> None:
    rounds = 0

    async def scenario() -> None:
        async def step() -> None:
            nonlocal rounds
            rounds += 1
            raise ConnectionError("the database is away")

        await run_every(asyncio.Event(), 0.01, step)

    with pytest.raises(ConnectionError):
        asyncio.run(scenario())
    assert rounds == 1
