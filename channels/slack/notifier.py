"""Staff notices to Slack: new cases to the department channel, updated in place; handoff threads; alerts.

Runs in the worker (``ccm worker``). Notices are claimed in order per case under a lease,
so several workers share the work and a restart repeats nothing that was finished. A new
case is posted to its department's channel and the message is remembered; every later
change updates that message. A customer asking for a person opens the message's thread,
and the customer's words appear there. SLA breaches, dissatisfied survey answers (with the
customer's comment) and follow-up rounds beyond the limit go to the department's leads as
direct messages, in each lead's locale. The messages that quote the customer are recorded, and
when the customer's data is erased they are redacted in place (``chat.update``), retried until done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ccm_core.domain.policy import Actor
from ccm_core.service_layer import staff_notices, views
from ccm_core.service_layer.staff_notices import NoticeClaim
from ccm_core.service_layer.survey_schedule import survey_comment
from channels.context import ChannelContext
from channels.loops import run_every
from channels.slack import blocks
from channels.slack.blocks import t

log = logging.getLogger(__name__)
NOTIFIER = Actor.system("slack")
SLA_SCAN_SECONDS = 60
# Slack errors that no retry will cure; the notice is recorded as failed with the reason.
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "user_not_found",
    "cannot_dm_bot",
    "invalid_blocks",
}
# What chat.update answers for a message that no longer exists: nothing is left to redact.
GONE = {"message_not_found", "channel_not_found"}
ALERTS = ("sla_breach", "sla_soon", "survey_dissatisfied", "follow_up_rounds_exceeded")


class NotShown(Exception):
    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class SlackNotifier:
    def __init__(self, ctx: ChannelContext, client: AsyncWebClient, worker_id: str) -> None:
        self.ctx = ctx
        self.client = client
        self.worker_id = worker_id
        self.settings = ctx.settings

    def uow(self):
        return self.ctx.core.unit_of_work()

    async def run_once(self) -> int:
        claims = await asyncio.to_thread(
            staff_notices.claim_staff_notices,
            self.uow(),
            self.worker_id,
            limit=self.settings.worker_batch,
            lease_seconds=self.settings.delivery_lease_seconds,
        )
        await asyncio.gather(*(self.deliver(claim) for claim in claims))
        return len(claims)

    async def run_forever(self, stop: asyncio.Event) -> None:
        next_scan = 0.0

        async def scan_and_deliver() -> bool:
            nonlocal next_scan
            loop_time = asyncio.get_running_loop().time()
            if loop_time >= next_scan:
                raised = await asyncio.to_thread(staff_notices.raise_sla_alerts, self.uow())
                if raised:
                    log.info("%s SLA alert(s) raised", raised)
                next_scan = loop_time + SLA_SCAN_SECONDS
            return await self.run_once() > 0

        await run_every(stop, self.settings.worker_poll_seconds, scan_and_deliver)

    async def deliver(self, claim: NoticeClaim) -> None:
        try:
            await self.show(claim)
        except NotShown as failure:
            await self.failed(claim, failure)
        except SlackApiError as error:
            await self.failed(claim, api_failure(error))
        except (aiohttp.ClientError, TimeoutError) as error:
            await self.failed(claim, NotShown(f"Slack not reachable ({type(error).__name__})"))
        except Exception as error:  # a bug must not stop the other notices; this one is retried
            log.exception("staff notice %s failed unexpectedly", claim.id)
            await self.failed(claim, NotShown(f"unexpected {type(error).__name__}"))
        else:
            await asyncio.to_thread(staff_notices.finish_staff_notice, self.uow(), claim)

    async def failed(self, claim: NoticeClaim, failure: NotShown) -> None:
        gives_up = (
            claim.attempts + 1 >= self.settings.delivery_max_attempts and claim.kind != "customer_erased"
        )
        if failure.permanent or gives_up:  # an erasure is tried until done: Slack down only delays it
            log.warning("staff notice %s (%s) failed for good: %s", claim.id, claim.kind, failure.reason)
            await asyncio.to_thread(staff_notices.fail_staff_notice, self.uow(), claim, error=failure.reason)
            return
        retry_at = self.settings.retry_at(claim.attempts, failure.retry_after)
        await asyncio.to_thread(
            staff_notices.retry_staff_notice, self.uow(), claim, error=failure.reason, retry_at=retry_at
        )

    async def show(self, claim: NoticeClaim) -> None:
        if claim.reference is None:
            raise NotShown("a staff notice without a case", permanent=True)
        if claim.kind in ALERTS:
            await self.alert_leads(claim)
            return
        if claim.kind == "customer_erased":
            await self.redact(claim)
            return
        post = await self.post_case(claim)
        if claim.kind == "human_requested":
            locale = channel_locale(claim)
            await self.client.chat_postMessage(
                channel=post.channel_ref,
                thread_ts=post.message_ref,
                text=t(locale, "handoff.requested", reference=claim.reference),
                blocks=[
                    {
                        "type": "section",
                        "text": blocks.mrkdwn(t(locale, "handoff.requested", reference=claim.reference)),
                    },
                    {
                        "type": "actions",
                        "elements": [
                            blocks.button(locale, "ccm_hand_back", "hand_back", claim.reference, "danger")
                        ],
                    },
                ],
            )
        elif claim.kind == "customer_message" and claim.message_text:
            sent = await self.client.chat_postMessage(
                channel=post.channel_ref,
                thread_ts=post.message_ref,
                text=t(
                    channel_locale(claim), "handoff.customer_says", text=blocks.escape(claim.message_text)
                ),
            )
            await self.remember(claim, sent)

    async def remember(self, claim: NoticeClaim, sent: Any) -> None:
        """A message quoting the customer: recorded so that erasure can redact it."""
        await asyncio.to_thread(
            staff_notices.record_staff_message,
            self.uow(),
            claim.reference or "",
            channel_ref=sent["channel"],
            message_ref=sent["ts"],
        )

    async def redact(self, claim: NoticeClaim) -> None:
        """The customer's data was erased: the case's message is redrawn from the erased record and
        every message quoting them says so instead.

        A message Slack no longer has (deleted, its channel gone) has nothing to redact.
        """
        reference = claim.reference or ""
        post = await asyncio.to_thread(staff_notices.staff_post, self.uow(), reference)
        if post is not None:
            case = await asyncio.to_thread(
                views.get_complaint, self.uow(), NOTIFIER, reference, channel_locale(claim)
            )
            text, message = blocks.case_message(case, channel_locale(claim))
            shown = message if post.in_current_department else message[:-1]
            await self.client.chat_update(
                channel=post.channel_ref, ts=post.message_ref, text=text, blocks=shown
            )
        text = t(channel_locale(claim), "redacted", reference=reference)
        for message in await asyncio.to_thread(staff_notices.staff_messages_to_redact, self.uow(), reference):
            try:
                await self.client.chat_update(
                    channel=message.channel_ref, ts=message.message_ref, text=text, blocks=[]
                )
            except SlackApiError as error:
                if error.response.get("error") not in GONE:
                    raise
            await asyncio.to_thread(staff_notices.staff_message_redacted, self.uow(), message.id)

    async def post_case(self, claim: NoticeClaim) -> staff_notices.PostView:
        """The case's message in its department's channel: updated where it is, posted where it is not yet."""
        reference = claim.reference or ""
        locale = channel_locale(claim)
        case = await asyncio.to_thread(views.get_complaint, self.uow(), NOTIFIER, reference, locale)
        text, message = blocks.case_message(case, locale)
        post = await asyncio.to_thread(staff_notices.staff_post, self.uow(), reference)
        if post is not None:  # where it was shown shows its new state (a reassigned case: without buttons)
            shown = message if post.in_current_department else message[:-1]
            await self.client.chat_update(
                channel=post.channel_ref, ts=post.message_ref, text=text, blocks=shown
            )
            if post.in_current_department:
                return post
        if not claim.department_channel:
            raise NotShown(f"department {claim.department} has no Slack channel", permanent=True)
        sent = await self.client.chat_postMessage(channel=claim.department_channel, text=text, blocks=message)
        await asyncio.to_thread(
            staff_notices.save_staff_post,
            self.uow(),
            reference,
            channel_ref=sent["channel"],
            message_ref=sent["ts"],
        )
        return staff_notices.PostView(reference, sent["channel"], sent["ts"], True)

    async def alert_leads(self, claim: NoticeClaim) -> None:
        leads = [lead for lead in claim.leads if lead.slack_user_id]
        if not leads:
            raise NotShown(f"department {claim.department} has no lead with a Slack user id", permanent=True)
        comment = None
        if claim.kind == "survey_dissatisfied":  # read now, not copied into the notice: erasure clears it
            round_ = int(claim.payload.get("round", 0))
            comment = await asyncio.to_thread(survey_comment, self.uow(), claim.reference or "", round_)
        for lead in leads:
            text = alert_text(claim, lead.locale, comment)
            sent = await self.client.chat_postMessage(
                channel=lead.slack_user_id,
                text=text,
                blocks=[
                    {
                        "type": "section",
                        "text": blocks.mrkdwn(f":warning: {text}"),
                        "accessory": blocks.button(lead.locale, "ccm_open", "open", claim.reference or ""),
                    }
                ],
            )
            if comment:
                await self.remember(claim, sent)


def channel_locale(claim: NoticeClaim) -> str:
    """A channel is read by the whole department: its messages are in the locale of its first lead."""
    return claim.leads[0].locale if claim.leads else "en"


def alert_text(claim: NoticeClaim, locale: str, comment: str | None = None) -> str:
    """The alert in the lead's locale; a dissatisfied answer comes with the customer's comment."""
    payload = claim.payload
    params = {"reference": claim.reference, "department": claim.department}
    if claim.kind == "survey_dissatisfied":
        text = t(
            locale,
            "alert.survey_dissatisfied",
            score=payload.get("score"),
            round=payload.get("round", 0) + 1,
            **params,
        )
        if comment:
            text += "\n" + t(locale, "alert.survey_comment", comment=blocks.escape(comment))
        return text
    if claim.kind == "follow_up_rounds_exceeded":
        return t(
            locale,
            "alert.follow_up_rounds_exceeded",
            round=payload["round"],
            limit=payload["limit"],
            **params,
        )
    step = t(locale, f"sla_step.{payload.get('step')}")
    due_at = dt.datetime.fromisoformat(payload["due_at"])
    return t(locale, f"alert.{claim.kind}", step=step, due_at=blocks.when(due_at), **params)


def api_failure(error: SlackApiError) -> NotShown:
    code = str(error.response.get("error", "unknown_error"))
    if error.response.status_code == 429 or code == "ratelimited":
        retry_after = float(error.response.headers.get("Retry-After", 30) or 30)
        return NotShown(f"Slack: {code}", retry_after=retry_after)
    return NotShown(f"Slack: {code}", permanent=code in PERMANENT)
