"""The customer's personal data beyond the database: their conversations in the assistant.

The worker erases each conversation an erasure queued (through the Rasa server, which takes the
conversation's lock first), trying again until it is done: the assistant being down delays an
erasure, never drops it. It also erases, once a day and once per customer across workers, the
customers whose complaints all closed longer ago than ``CCM_RETENTION_DAYS``. The customer's copy
reads their conversations from the assistant here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import httpx

from ccm_core.bootstrap import Core
from ccm_core.service_layer import customer_data
from ccm_core.service_layer.customer_data import ErasureClaim, TranscriptUnavailable
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable
from channels.loops import run_every
from channels.settings import AssistantSettings

log = logging.getLogger(__name__)
RETENTION_SCAN_SECONDS = 3600.0


class ConversationEraser:
    """Runs the erasure tasks: one conversation each, erased in the assistant's tracker store."""

    def __init__(self, ctx: ChannelContext, worker_id: str) -> None:
        self.ctx = ctx
        self.worker_id = worker_id
        self.settings = ctx.settings

    def uow(self):
        return self.ctx.core.unit_of_work()

    async def run_once(self) -> int:
        claims = await asyncio.to_thread(
            customer_data.claim_erasure_tasks,
            self.uow(),
            self.worker_id,
            limit=self.settings.worker_batch,
            lease_seconds=self.settings.delivery_lease_seconds,
        )
        await asyncio.gather(*(self.erase(claim) for claim in claims))
        return len(claims)

    async def run_forever(self, stop: asyncio.Event) -> None:
        async def erase_due() -> bool:
            return await self.run_once() > 0

        await run_every(stop, self.settings.worker_poll_seconds, erase_due)

    async def erase(self, claim: ErasureClaim) -> None:
        try:
            await self.ctx.rasa.erase(claim.conversation_id)
        except AssistantUnreachable as down:
            retry_at = self.settings.retry_at(claim.attempts)
            log.warning("erasing conversation (task %s) waits until %s: %s", claim.id, retry_at, down)
            await asyncio.to_thread(
                customer_data.retry_erasure_task, self.uow(), claim, error=str(down), retry_at=retry_at
            )
        else:
            await asyncio.to_thread(customer_data.finish_erasure_task, self.uow(), claim)
            log.info("erasure task %s done: the conversation is gone from the assistant", claim.id)


async def run_retention_forever(
    core: Core, stop: asyncio.Event, every_seconds: float = RETENTION_SCAN_SECONDS
) -> None:
    """Erase the customers past the retention period; several workers share it (each customer once)."""

    async def erase_expired() -> bool:
        erased = await asyncio.to_thread(customer_data.erase_expired_customers, core.unit_of_work())
        if erased:
            log.info("retention: %s customer(s) erased", erased)
        return erased > 0  # some were due: more may be

    def failed(error: Exception) -> None:
        log.warning("retention run failed (%s); trying again in %s s", type(error).__name__, every_seconds)

    await run_every(stop, every_seconds, erase_expired, on_error=failed)


class RasaTranscripts:
    """The customer's conversations as the assistant keeps them, for their copy (``Transcripts``)."""

    def __init__(self, assistant: AssistantSettings, timeout: float = 30) -> None:
        self.url = assistant.rasa_url.rstrip("/")
        self.params = {"token": assistant.rasa_token} if assistant.rasa_token else {}
        self.timeout = timeout

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        try:
            response = httpx.get(
                f"{self.url}/conversations/{conversation_id}/tracker",
                params={**self.params, "include_events": "ALL"},
                timeout=self.timeout,
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise TranscriptUnavailable(type(error).__name__) from error
        return transcript_lines(response.json().get("events") or [])


def transcript_lines(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the customer wrote and what the assistant answered; the product's own triggers left out."""
    lines = []
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        if kind == "user" and str(
            (event.get("parse_data") or {}).get("intent", {}).get("name", "")
        ).startswith("EXTERNAL_"):
            continue
        at = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.UTC)
        lines.append(
            {
                "at": at.isoformat(timespec="seconds"),
                "from": "customer" if kind == "user" else "assistant",
                "text": text,
            }
        )
    return lines
