"""The delivery worker (``ccm worker``): every message the process owes a customer reaches their chat once.

For each due outbox message the worker triggers the customer's conversation through
Rasa's external-event API (``EXTERNAL_notice`` / ``EXTERNAL_survey`` with the message's
id), so the dialogue knows what was said and understands the answer (a survey score)
in context; the assistant's words go out through the customer's channel. When Rasa
or the platform is down the message is tried again with exponential back-off; after
``CCM_DELIVERY_MAX_ATTEMPTS`` attempts, or on a permanent refusal (the customer blocked
the bot), it is recorded as failed with the reason. The bookkeeping that makes this
safe with several workers and across restarts is in ``ccm_core.service_layer.delivery``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from ccm_core.domain.lifecycle import CHAT_CHANNELS
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import delivery
from ccm_core.service_layer.delivery import Claim
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable
from channels.loops import run_every
from channels.messages import Reply, conversation_id, replies_from_rasa
from channels.sending import DeliveryFailed, Notice, Sender

log = logging.getLogger(__name__)
WORKER = Actor.system("worker")
HOUSEKEEPING_SECONDS = 3600
# The survey and its reminder open the chat's survey form, so a typed or tapped score is understood.
SURVEY_KINDS = frozenset({"survey", "survey_reminder"})


def address_of(claim: Claim) -> str:
    """The platform address in the outbox's recipient (stored as the conversation id)."""
    prefix = f"{claim.channel}:"
    return claim.recipient[len(prefix) :] if claim.recipient.startswith(prefix) else claim.recipient


class DeliveryWorker:
    def __init__(self, ctx: ChannelContext, senders: dict[str, Sender], worker_id: str) -> None:
        self.ctx = ctx
        self.senders = senders
        self.worker_id = worker_id
        self.settings = ctx.settings

    def uow(self):
        return self.ctx.core.unit_of_work()

    async def claim(self, limit: int) -> list[Claim]:
        return await asyncio.to_thread(
            delivery.claim_outbox_messages,
            self.uow(),
            self.worker_id,
            list(self.senders),
            limit=limit,
            lease_seconds=self.settings.delivery_lease_seconds,
        )

    async def run_once(self) -> int:
        """Deliver one batch of due messages, concurrently (they are for different conversations)."""
        claims = await self.claim(self.settings.worker_batch)
        await asyncio.gather(*(self.deliver(claim) for claim in claims))
        return len(claims)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep up to ``worker_batch`` deliveries under way until ``stop``; those under way are finished.

        Rather than batch by batch, the worker claims more as soon as half its places are free: one
        message waiting long for Rasa or the platform holds up only its own place, not the next batch.
        """
        under_way: set[asyncio.Task[None]] = set()
        next_housekeeping = 0.0

        async def deliver_and_tidy() -> bool:
            nonlocal next_housekeeping
            free = self.settings.worker_batch - len(under_way)
            claims = await self.claim(free) if free * 2 >= self.settings.worker_batch else []
            for claim in claims:
                started = asyncio.create_task(self.deliver(claim))
                under_way.add(started)
                started.add_done_callback(under_way.discard)
            loop_time = asyncio.get_running_loop().time()
            if loop_time >= next_housekeeping:
                week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
                await asyncio.to_thread(self.ctx.guard.forget_before, week_ago)
                next_housekeeping = loop_time + HOUSEKEEPING_SECONDS
            if not under_way:
                return False  # nothing due: the idle wait
            # Look again as soon as a delivery is done, or when the idle wait is up.
            await asyncio.wait(
                under_way, timeout=self.settings.worker_poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            return True

        try:
            await run_every(stop, self.settings.worker_poll_seconds, deliver_and_tidy)
        finally:
            if under_way:
                await asyncio.gather(*under_way)

    async def deliver(self, claim: Claim) -> None:
        try:
            await self._deliver(claim)
        except DeliveryFailed as failure:
            await self._failed(claim, failure)
        except AssistantUnreachable as down:
            await self._failed(claim, DeliveryFailed(f"assistant unreachable: {down}"))
        except Exception as error:  # a bug must not stop the other deliveries; the message is retried
            log.exception("delivery of outbox message %s failed unexpectedly", claim.outbox_id)
            await self._failed(claim, DeliveryFailed(f"unexpected {type(error).__name__}"))

    async def _deliver(self, claim: Claim) -> None:
        sender = self.senders[claim.channel]
        if claim.part_in_flight is not None and not sender.idempotent:
            raise DeliveryFailed(
                f"interrupted while sending part {claim.part_in_flight + 1}; it may have reached the "
                "customer, so it is not sent again",
                permanent=True,
            )
        address = address_of(claim)
        parts = claim.rendering
        marked = None  # the part already marked in flight
        if parts is None:
            notice = Notice(
                outbox_id=claim.outbox_id,
                kind=claim.kind,
                language=claim.language,
                reference=claim.reference,
                body=claim.body,
                conversation_id=conversation_id(claim.channel, address),
                last_customer_contact=claim.last_customer_contact,
            )
            replies = [Reply(claim.body)]
            if claim.channel in CHAT_CHANNELS:  # e-mail has no conversation with the assistant
                intent = "EXTERNAL_survey" if claim.kind in SURVEY_KINDS else "EXTERNAL_notice"
                messages = await self.ctx.rasa.trigger(
                    notice.conversation_id, intent, {"outbox_id": claim.outbox_id}
                )
                replies = replies_from_rasa(messages) or replies
            # A thread: e-mail's reads the message's survey link from the database.
            parts = await asyncio.to_thread(sender.prepare, notice, replies, dt.datetime.now(dt.UTC))
            if not await asyncio.to_thread(delivery.save_rendering, self.uow(), claim, parts):
                return  # the lease ran out and another worker holds the message now
            marked = 0  # saving the rendering marked the first part in flight, one commit fewer
        for index in range(claim.parts_sent, len(parts)):
            if index != marked and not await asyncio.to_thread(delivery.begin_part, self.uow(), claim, index):
                return
            # A DeliveryFailed means the platform did not take the part; retry_delivery clears the mark.
            await sender.send(address, parts[index], key=f"outbox:{claim.outbox_id}:{index}")
            if index + 1 < len(parts):  # the last part is recorded with the delivery, in one transaction
                await asyncio.to_thread(delivery.end_part, self.uow(), claim, index)
        await asyncio.to_thread(delivery.finish_delivery, self.uow(), claim, WORKER, parts_sent=len(parts))
        log.info("outbox message %s (%s) delivered on %s", claim.outbox_id, claim.kind, claim.channel)

    async def _failed(self, claim: Claim, failure: DeliveryFailed) -> None:
        attempts = claim.attempts + 1
        if failure.permanent or attempts >= self.settings.delivery_max_attempts:
            log.warning("outbox message %s failed for good: %s", claim.outbox_id, failure.reason)
            await asyncio.to_thread(delivery.fail_delivery, self.uow(), claim, error=failure.reason)
            return
        retry_at = self.settings.retry_at(claim.attempts, failure.retry_after)
        log.info(
            "outbox message %s not delivered (attempt %s); retrying at %s",
            claim.outbox_id,
            attempts,
            retry_at,
        )
        await asyncio.to_thread(
            delivery.retry_delivery, self.uow(), claim, error=failure.reason, retry_at=retry_at
        )
