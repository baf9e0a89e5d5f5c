"""The worker's survey loop: every minute, send the surveys due, remind once, close the unanswered.

The state is in the database (``ccm_core.service_layer.survey_schedule``), so any number of
workers may run this loop and a restart loses nothing; only counts are logged, never a case's
texts or the customer's details.
"""

from __future__ import annotations

import asyncio
import logging

from ccm_core.bootstrap import Core
from ccm_core.service_layer.survey_schedule import run_survey_schedule
from channels.loops import run_every

log = logging.getLogger(__name__)


async def run_survey_schedule_forever(core: Core, stop: asyncio.Event, every_seconds: float = 60) -> None:
    """Run the schedule until ``stop`` is set; a failed run (the database away, say) is tried next time."""

    async def run_once() -> None:
        run = await asyncio.to_thread(run_survey_schedule, core.unit_of_work())
        if run.sent or run.reminded or run.expired or run.skipped:
            log.info(
                "surveys: %s sent, %s reminded, %s expired, %s skipped",
                run.sent,
                run.reminded,
                run.expired,
                run.skipped,
            )

    def failed(error: Exception) -> None:  # the loop must outlive a database outage; the next run catches up
        log.warning(
            "survey schedule run failed (%s); trying again in %s s", type(error).__name__, every_seconds
        )

    await run_every(stop, every_seconds, run_once, on_error=failed)
