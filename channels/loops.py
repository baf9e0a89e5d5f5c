"""The worker's loops: a step run again and again until the worker stops, with a wait between rounds.

Here rather than in ``ccm`` because the loops of ``channels``, ``surveys`` and ``reports`` use it
too, and those may not import the product's wiring (see the import-linter contracts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when ``stop`` is set meanwhile: a stopping worker does not sit out a wait."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_every(
    stop: asyncio.Event,
    seconds: float,
    step: Callable[[], Awaitable[bool | None]],
    *,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Run ``step`` until ``stop`` is set, pausing ``seconds`` after each round unless it returned True.

    A step returns True when the next round should start at once: it found work, so more may be
    waiting (or, like a long poll, it did its waiting itself).
    With ``on_error`` a failed round is handed to it (inside the ``except``, so ``log.exception``
    shows the traceback) and the loop pauses and goes on: a timer must outlive a database outage.
    Without it the error ends the loop.
    """
    while not stop.is_set():
        try:
            go_on = await step()
        except Exception as error:
            if on_error is None:
                raise
            on_error(error)
            go_on = False
        if not go_on:
            await pause(stop, seconds)
