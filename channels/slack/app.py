"""The staff's Slack app: review, decide, act, inform and follow up on cases without leaving Slack.

One listener per interaction, each calling one use case of the core's service layer. The
caller is known by their Slack user id (the organisation's staff table); the core decides
what they may do, and its refusals are shown to them alone, in their locale. Every request's
signature is checked by bolt. Buttons and slash commands are acknowledged first and worked on
after; a modal's submission is checked before its acknowledgement, so a refusal (a case
decided a moment ago by someone else, say) shows in the modal itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ccm_core.domain.errors import CCMError, NotFound, ValidationFailed
from ccm_core.domain.lifecycle import ActionKind, Decision
from ccm_core.i18n import normalise_language
from ccm_core.service_layer import services, staff_views, views
from ccm_core.service_layer.staff_notices import case_of_post
from ccm_core.service_layer.staff_views import StaffMember
from ccm_core.service_layer.views import CaseView
from channels.context import ChannelContext
from channels.slack import blocks
from channels.slack.blocks import t

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
REFERENCE = re.compile(r"^CMP-\d{4}-\d{6}$", re.IGNORECASE)

# The modal that asks for a step's details, per button; submitted under the same callback id.
FORMS: dict[str, Callable[..., dict[str, Any]]] = {
    "ccm_decide": blocks.decide_modal,
    "ccm_add_action": blocks.add_action_modal,
    "ccm_complete_action": blocks.complete_action_modal,
    "ccm_inform_customer": blocks.inform_modal,
}
# Steps a button runs at once: action id → use case.
DIRECT: dict[str, Callable[..., CaseView]] = {
    "ccm_take": services.take_complaint,
    "ccm_start_review": services.start_review,
    "ccm_send_survey": services.send_survey,
    "ccm_start_follow_up": services.start_follow_up,
    "ccm_close": services.close_complaint,
    "ccm_hand_back": services.hand_back_to_assistant,
}
# A core error's field → the modal block that shows it.
FIELD_BLOCKS = {"customer_explanation": "explanation", "owner_email": "owner", "staff": "owner"}


class Unknown(Exception):
    """The Slack user is not (or no longer) active staff: they are told so in their own locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale


class StaffApp:
    """The bolt app and the work behind each of its listeners."""

    def __init__(self, ctx: ChannelContext, client: AsyncWebClient | None = None) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.client = client or AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_url
        )
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret or None,
            request_verification_enabled=settings.slack_mode != "socket",
        )
        self._listen()

    def uow(self):
        return self.ctx.core.unit_of_work()

    # --- who is asking ---

    async def member(self, user_id: str) -> StaffMember:
        """The staff member behind a Slack user; the audit trail names both (``staff:… (slack:U…)``)."""
        try:
            member = await asyncio.to_thread(staff_views.staff_member, self.uow(), slack_user_id=user_id)
        except NotFound:
            raise Unknown(await self.slack_locale(user_id)) from None
        actor = dataclasses.replace(member.actor, label=f"{member.actor.label} (slack:{user_id})")
        return dataclasses.replace(member, actor=actor)

    async def slack_locale(self, user_id: str) -> str:
        """The locale Slack knows for a user who is not staff (for the refusal's language)."""
        try:
            info = await self.client.users_info(user=user_id, include_locale=True)
            return normalise_language((info.get("user") or {}).get("locale"))
        except SlackApiError:
            return "en"

    # --- listeners ---

    def _listen(self) -> None:
        app = self.bolt
        app.event("app_home_opened")(self.on_home_opened)
        app.event("message")(self.on_message)
        app.command("/ccm")(self.on_command)
        app.action("ccm_open")(self.on_open)
        for action_id in DIRECT:
            app.action(action_id)(self.on_direct)
        for action_id in (*FORMS, "ccm_reassign"):
            app.action(action_id)(self.on_form_button)
            app.view(action_id)(self.on_submit)

    async def on_home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            await self.publish_home(event["user"])

    async def on_open(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, reference = body["user"]["id"], body["actions"][0]["value"]
        await self.guarded(body, user, lambda member: self.open_case(member, reference, body["trigger_id"]))

    async def on_direct(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = body["actions"][0]
        user, reference = body["user"]["id"], action["value"]

        async def run(member: StaffMember) -> None:
            case = await asyncio.to_thread(DIRECT[action["action_id"]], self.uow(), member.actor, reference)
            await self.refresh(body, member, case)

        await self.guarded(body, user, run)

    async def on_form_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = body["actions"][0]
        user, reference = body["user"]["id"], action["value"]

        async def run(member: StaffMember) -> None:
            case = await asyncio.to_thread(views.get_complaint, self.uow(), member.actor, reference)
            if action["action_id"] == "ccm_reassign":
                departments = await asyncio.to_thread(views.departments, self.uow())
                view = blocks.reassign_modal(case, departments, member.locale)
            else:
                view = FORMS[action["action_id"]](case, member.locale)
            if body.get("container", {}).get("type") == "view":
                await self.client.views_push(trigger_id=body["trigger_id"], view=view)
            else:
                await self.client.views_open(trigger_id=body["trigger_id"], view=view)

        await self.guarded(body, user, run)

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Run the step before acknowledging, so a refusal is shown on the form it concerns."""
        user = body["user"]["id"]
        reference = json.loads(view["private_metadata"])["reference"]
        values = {block: next(iter(fields.values())) for block, fields in view["state"]["values"].items()}
        try:
            member = await self.member(user)
        except Unknown as unknown:
            await ack(
                response_action="errors", errors={first_input(view): t(unknown.locale, "unknown_staff")}
            )
            return
        try:
            case = await asyncio.to_thread(self.submit, view["callback_id"], member, reference, values)
        except CCMError as refusal:
            block = FIELD_BLOCKS.get(getattr(refusal, "field", ""), getattr(refusal, "field", ""))
            block = block if block in values else first_input(view)
            await ack(response_action="errors", errors={block: refusal.message(member.locale)})
            return
        try:
            view = await self.case_modal(case.reference, member)
        except CCMError:  # reassigned to another department: out of this member's reach now
            command = blocks.command_name(member.locale, view["callback_id"].removeprefix("ccm_"))
            done = t(member.locale, "done", reference=case.reference, command=command)
            view = blocks.notice_modal(member.locale, done)
        await ack(response_action="update", view=view)

    def submit(
        self, callback_id: str, member: StaffMember, reference: str, values: dict[str, Any]
    ) -> CaseView:
        uow, actor = self.uow(), member.actor
        if callback_id == "ccm_decide":
            decision = selected(values.get("decision"))
            if decision not in set(Decision):
                raise ValidationFailed(field="decision", problem="required")
            return services.decide_complaint(
                uow,
                actor,
                reference,
                justified=decision == Decision.JUSTIFIED,
                reason=typed(values.get("reason")),
                customer_explanation=typed(values.get("explanation")) or None,
            )
        if callback_id == "ccm_add_action":
            due = (values.get("due_date") or {}).get("selected_date")
            return services.add_action(
                uow,
                actor,
                reference,
                kind=selected(values.get("kind")) or ActionKind.CORRECTIVE,
                description=typed(values.get("description")),
                owner_email=typed(values.get("owner")) or None,
                due_date=dt.date.fromisoformat(due) if due else None,
            )
        if callback_id == "ccm_complete_action":
            return services.complete_action(
                uow,
                actor,
                reference,
                action_id=int(selected(values.get("action")) or 0),
                outcome=typed(values.get("outcome")),
            )
        if callback_id == "ccm_inform_customer":
            return services.inform_customer(uow, actor, reference, summary=typed(values.get("summary")))
        return services.reassign_complaint(
            uow, actor, reference, department=selected(values.get("department"))
        )

    async def on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        argument = (command.get("text") or "").strip()
        try:
            member = await self.member(command["user_id"])
        except Unknown as unknown:
            await respond(t(unknown.locale, "unknown_staff"), response_type="ephemeral")
            return
        locale = member.locale
        try:
            if REFERENCE.match(argument):
                case = await asyncio.to_thread(
                    views.get_complaint, self.uow(), member.actor, argument.upper(), locale
                )
                text, message = blocks.case_message(case, locale)
                await respond(text=text, blocks=message, response_type="ephemeral")
            elif argument.lower() == "mine":
                home = await asyncio.to_thread(staff_views.staff_home, self.uow(), member.actor)
                categories = await self.categories()
                listed = [
                    {"type": "section", "text": blocks.mrkdwn(f"*{t(locale, 'mine_title')}*")},
                    *blocks.case_list(home.mine, locale, categories),
                ]
                await respond(text=t(locale, "mine_title"), blocks=listed, response_type="ephemeral")
            elif argument.lower() == "stats":
                await respond(await self.stats_text(member), response_type="ephemeral")
            else:
                await respond(t(locale, "help"), response_type="ephemeral")
        except CCMError as refusal:
            await respond(refusal.message(locale), response_type="ephemeral")

    async def on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """A staff member's words in a case's thread reach the customer while the case is handed over."""
        thread = event.get("thread_ts")
        if not thread or event.get("subtype") or event.get("bot_id") or not event.get("text"):
            return
        if not await asyncio.to_thread(self.ctx.guard.claim, f"slack:{body.get('event_id')}"):
            return  # Slack delivered the event again
        reference = await asyncio.to_thread(case_of_post, self.uow(), event["channel"], thread)
        if reference is None:
            await asyncio.to_thread(self.ctx.guard.finish, f"slack:{body.get('event_id')}")
            return
        user = event.get("user", "")
        try:
            member = await self.member(user)
            await asyncio.to_thread(
                services.reply_to_customer, self.uow(), member.actor, reference, text=event["text"]
            )
        except Unknown as unknown:
            await self.ephemeral(event["channel"], user, t(unknown.locale, "unknown_staff"), thread)
        except CCMError as refusal:
            if getattr(refusal, "code", "") != "no_handoff":  # staff talking among themselves
                await self.ephemeral(event["channel"], user, refusal.message(member.locale), thread)
        finally:
            await asyncio.to_thread(self.ctx.guard.finish, f"slack:{body.get('event_id')}")

    # --- the work behind the listeners ---

    async def guarded(
        self, body: dict[str, Any], user: str, work: Callable[[StaffMember], Awaitable[None]]
    ) -> None:
        """Run ``work`` for a known staff member; refusals go to the clicker alone, in their locale."""
        try:
            member = await self.member(user)
        except Unknown as unknown:
            await self.tell(body, user, t(unknown.locale, "unknown_staff"))
            return
        try:
            await work(member)
        except CCMError as refusal:
            await self.tell(body, user, refusal.message(member.locale))
        except SlackApiError as error:  # an expired trigger, say: the click did nothing, so say so
            log.warning("Slack refused a call for a click: %s", error.response.get("error"))
            await self.tell(body, user, t(member.locale, "slack_failed"))

    async def open_case(self, member: StaffMember, reference: str, trigger_id: str) -> None:
        """Open a modal at once (a trigger expires 3 s after the click), then fill it with the case."""
        opened = await self.client.views_open(trigger_id=trigger_id, view=blocks.loading_modal(member.locale))
        try:
            view = await self.case_modal(reference, member)
        except CCMError as refusal:
            view = blocks.notice_modal(member.locale, refusal.message(member.locale))
        await self.client.views_update(view_id=opened["view"]["id"], view=view)

    async def case_modal(self, reference: str, member: StaffMember) -> dict[str, Any]:
        """The case modal as ``member`` reads it now (refused if they may not see the case)."""

        def read() -> tuple[CaseView, list[views.TimelineEntry]]:
            case = views.get_complaint(self.uow(), member.actor, reference, member.locale)
            return case, views.complaint_timeline(self.uow(), member.actor, reference)

        case, timeline = await asyncio.to_thread(read)
        return blocks.case_modal(case, timeline, member.locale)

    async def refresh(self, body: dict[str, Any], member: StaffMember, case: CaseView) -> None:
        """Show the case's new state where the click came from (the channel message updates itself)."""
        container = body.get("container", {})
        if container.get("type") == "view" and body.get("view", {}).get("type") == "modal":
            await self.client.views_update(
                view_id=body["view"]["id"], view=await self.case_modal(case.reference, member)
            )
        elif body.get("view", {}).get("type") == "home":
            await self.publish_home(body["user"]["id"])
        else:
            command = blocks.command_name(member.locale, body["actions"][0]["action_id"].removeprefix("ccm_"))
            await self.tell(
                body, body["user"]["id"], t(member.locale, "done", reference=case.reference, command=command)
            )

    async def publish_home(self, user: str) -> None:
        try:
            member = await self.member(user)
        except Unknown as unknown:
            view = {
                "type": "home",
                "blocks": [{"type": "section", "text": blocks.mrkdwn(t(unknown.locale, "unknown_staff"))}],
            }
        else:
            home = await asyncio.to_thread(staff_views.staff_home, self.uow(), member.actor)
            view = blocks.home_view(home, member.locale, await self.categories())
        await self.client.views_publish(user_id=user, view=view)

    async def stats_text(self, member: StaffMember) -> str:
        now = dt.datetime.now(dt.UTC)
        figures = await asyncio.to_thread(
            staff_views.month_figures, self.uow(), member.actor, now.year, now.month
        )
        locale = member.locale
        scope = (
            t(locale, "stats.all_departments") if member.actor.department_wide else (member.department or "-")
        )
        rate = f"{figures.justified_rate:.0%}" if figures.justified_rate is not None else "-"
        median = (
            f"{figures.median_hours_to_decide:.1f}" if figures.median_hours_to_decide is not None else "-"
        )
        score = f"{figures.average_score:.2f}" if figures.average_score is not None else "-"
        lines = t(
            locale,
            "stats.lines",
            received=figures.received,
            closed=figures.closed,
            open_now=figures.open_now,
            overdue_now=figures.overdue_now,
            justified=figures.justified,
            unjustified=figures.unjustified,
            rate=rate,
            median=median,
            surveys=figures.surveys_answered,
            score=score,
            dissatisfied=figures.dissatisfied,
        )
        return f"*{t(locale, 'stats.title', month=figures.month, scope=scope)}*\n{lines}"

    async def categories(self) -> dict[str, views.CategoryView]:
        return {c.code: c for c in await asyncio.to_thread(views.categories, self.uow())}

    async def tell(self, body: dict[str, Any], user: str, text: str) -> None:
        """A message only ``user`` sees: ephemeral in the channel clicked in, else in the app's DM."""
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
        if channel and body.get("container", {}).get("type") == "message":
            await self.ephemeral(channel, user, text)
        else:
            await self.client.chat_postMessage(channel=user, text=text)

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)


def first_input(view: dict[str, Any]) -> str:
    return next(block["block_id"] for block in view["blocks"] if block["type"] == "input")


def typed(field: dict[str, Any] | None) -> str:
    return ((field or {}).get("value") or "").strip()


def selected(field: dict[str, Any] | None) -> str:
    return ((field or {}).get("selected_option") or {}).get("value") or ""


def routes(staff_app: StaffApp) -> APIRouter:
    """``POST /slack/events``: events, interactivity and the slash command, all signature-checked by bolt."""
    handler = AsyncSlackRequestHandler(staff_app.bolt)
    router = APIRouter()

    @router.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request):
        return await handler.handle(request)

    return router
