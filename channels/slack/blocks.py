"""Block Kit for staff: the case message in the department channel, App Home, and the case modals.

Pure functions from the core's read models to Slack's JSON, in the reader's locale. Every
button carries the case reference as its value; what a button may do is decided by the core
(``CaseView.allowed``), so a case only offers the steps its state allows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from ccm_core.domain.lifecycle import ActionKind, Command, Decision, Status
from ccm_core.i18n import translate
from ccm_core.service_layer.staff_views import StaffHome
from ccm_core.service_layer.views import (
    CaseSummary,
    CaseView,
    CategoryView,
    DepartmentView,
    TimelineEntry,
)

Block = dict[str, Any]
SNIPPET = 280
TEXT_LIMIT = 2900  # a section's text may hold 3,000 characters

# The buttons a case offers, in the chart's order: action id → (label key, the command it needs).
CASE_BUTTONS: list[tuple[str, str, Command]] = [
    ("ccm_start_review", "start_review", Command.START_REVIEW),
    ("ccm_decide", "decide", Command.DECIDE_JUSTIFIED),
    ("ccm_add_action", "add_action", Command.ADD_ACTION),
    ("ccm_complete_action", "complete_action", Command.COMPLETE_ACTION),
    ("ccm_inform_customer", "inform_customer", Command.INFORM_CUSTOMER),
    ("ccm_send_survey", "send_survey", Command.SEND_SURVEY),
    ("ccm_start_follow_up", "start_follow_up", Command.START_FOLLOW_UP),
    ("ccm_close", "close", Command.CLOSE),
    ("ccm_reassign", "reassign", Command.REASSIGN),
]


def t(locale: str, key: str, /, **params: Any) -> str:
    return translate(locale, f"staff.{key}", **params)


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}


def escape(text: str) -> str:
    """Customer and staff words shown as text, never as Slack markup or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button(locale: str, action_id: str, label: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "action_id": action_id,
        "text": plain(t(locale, f"button.{label}")),
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def when(moment: dt.datetime | None) -> str:
    """A time as Slack shows it in each reader's own time zone."""
    if moment is None:
        return "-"
    stamp = int(moment.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='minutes')}>"


def next_deadline(case: CaseView) -> tuple[str, dt.datetime | None, bool]:
    """The earliest open step deadline: (step, due, already breached)."""
    open_steps = [step for step in case.sla if step.due_at and step.met_at is None]
    if not open_steps or case.status == Status.CLOSED:
        return "", None, False
    first = min(open_steps, key=lambda step: step.due_at or dt.datetime.max.replace(tzinfo=dt.UTC))
    return first.step, first.due_at, first.breached


def case_fields(case: CaseView, locale: str) -> list[dict[str, Any]]:
    step, due, breached = next_deadline(case)
    deadline = "-" if due is None else f"{t(locale, f'sla_step.{step}')}: {when(due)}"
    if breached:
        deadline += f" ({t(locale, 'overdue')})"
    rows = [
        ("status", translate(locale, f"status.{case.status}")),
        ("category", case.category_label),
        ("department", case.department_name),
        ("channel", translate(locale, f"channel.{case.channel}")),
        ("language", t(locale, f"language.{case.language}")),
        ("priority", translate(locale, f"priority.{case.priority}")),
        ("next_due", deadline),
        ("assignee", case.assignee or t(locale, "nobody")),
    ]
    if case.decision:
        rows.append(("decision", translate(locale, f"decision.{case.decision}")))
    return [mrkdwn(f"*{t(locale, f'field.{name}')}*\n{value}") for name, value in rows]


def case_message(case: CaseView, locale: str) -> tuple[str, list[Block]]:
    """The department channel's message for a case read in ``locale``: (notification text, blocks)."""
    snippet = escape(case.description[:SNIPPET]) + ("…" if len(case.description) > SNIPPET else "")
    title = t(locale, "case_title", reference=case.reference)
    blocks: list[Block] = [
        {"type": "header", "text": plain(title)},
        {"type": "section", "text": mrkdwn(f">{snippet}")},
        {"type": "section", "fields": case_fields(case, locale)},
    ]
    if case.needs_human:
        handoff = f":speech_balloon: {t(locale, 'handoff_on')}"
        blocks.append({"type": "context", "elements": [mrkdwn(handoff)]})
    elements = [button(locale, "ccm_open", "open", case.reference, "primary")]
    if "take" in case.allowed:
        elements.insert(0, button(locale, "ccm_take", "take", case.reference))
    blocks.append({"type": "actions", "block_id": f"case:{case.reference}", "elements": elements})
    notification = (
        t(locale, "new_case", reference=case.reference) if case.status == Status.RECEIVED else title
    )
    return f"{notification}: {translate(locale, f'status.{case.status}')}", blocks


def case_buttons(case: CaseView, locale: str) -> list[Block]:
    allowed = set(case.allowed)
    elements = [
        button(locale, action_id, label, case.reference)
        for action_id, label, command in CASE_BUTTONS
        if command in allowed
        and (command != Command.COMPLETE_ACTION or any(a.done_at is None for a in case.actions))
    ]
    if "take" in allowed:
        elements.insert(0, button(locale, "ccm_take", "take", case.reference))
    if case.needs_human:
        elements.append(button(locale, "ccm_hand_back", "hand_back", case.reference, "danger"))
    # Slack allows 25 elements in an actions block; a case offers at most a dozen.
    return [{"type": "actions", "block_id": "case_buttons", "elements": elements}] if elements else []


def timeline_lines(entries: list[TimelineEntry], locale: str) -> list[str]:
    lines = []
    for entry in entries[-25:]:
        if entry.kind == "customer_message":
            key = "staff_message" if entry.actor == "staff" else "customer_message"
            what = t(locale, f"timeline_entry.{key}", text=escape(entry.what[:SNIPPET]))
        elif entry.kind == "outbox":
            what = t(locale, "timeline_entry.outbox", what=entry.what, status=entry.details.get("status", ""))
        else:
            what = t(locale, "timeline_entry.audit", what=command_name(locale, entry.what), actor=entry.actor)
        lines.append(f"{when(entry.at)} · {what}")
    return lines


def command_name(locale: str, command: str) -> str:
    key = f"command.{command}"
    try:
        return translate(locale, key)
    except KeyError:
        return command


def action_lines(case: CaseView, locale: str) -> list[str]:
    lines = []
    for action in case.actions:
        state = (
            t(locale, "action_done", outcome=escape(action.outcome or ""))
            if action.done_at
            else t(locale, "action_open")
        )
        lines.append(
            "• "
            + t(
                locale,
                "action_line",
                kind=translate(locale, f"action_kind.{action.kind}"),
                description=escape(action.description),
                owner=action.owner or "-",
                due=action.due_date.isoformat() if action.due_date else "-",
                state=state,
            )
        )
    return lines


def file_size(size: int, locale: str) -> str:
    """Whole KB under a megabyte, else MB to one decimal, in the reader's notation (a decimal comma in
    tr and de); decimal units, as the customer's notice of a refused file gives the limit.
    """
    if size < 1_000_000:
        return f"{math.ceil(size / 1000)} KB"
    megabytes = f"{size / 1_000_000:.1f}"
    return f"{megabytes if locale == 'en' else megabytes.replace('.', ',')} MB"


def attachment_lines(case: CaseView, locale: str) -> list[str]:
    """The files the customer sent; a refused one says why it cannot be opened."""
    lines = []
    for file in case.attachments:
        line = f"• {escape(file.name)} ({escape(file.content_type)}, {file_size(file.size, locale)})"
        if file.refused:
            line += f" — {t(locale, f'attachment_refused.{file.refused}')}"
        lines.append(line)
    return lines


def case_modal(case: CaseView, timeline: list[TimelineEntry], locale: str) -> Block:
    """The case (read in ``locale``): details, actions, files, timeline, and the buttons its state allows."""
    blocks: list[Block] = [
        {"type": "header", "text": plain(t(locale, "case_title", reference=case.reference))},
        {"type": "section", "text": mrkdwn(escape(case.description))},
        {"type": "section", "fields": case_fields(case, locale)},
    ]
    if case.actions:
        text = f"*{t(locale, 'field.actions')}*\n" + "\n".join(action_lines(case, locale))
        blocks.append({"type": "section", "text": mrkdwn(text)})
    if case.attachments:
        text = f"*{t(locale, 'field.attachments')}*\n" + "\n".join(attachment_lines(case, locale))
        blocks.append({"type": "section", "text": mrkdwn(text)})
    blocks += case_buttons(case, locale)
    lines = timeline_lines(timeline, locale)
    if lines:
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(f"*{t(locale, 'timeline')}*\n" + "\n".join(lines))})
    return {
        "type": "modal",
        "callback_id": "ccm_case",
        "private_metadata": case.reference,
        "title": plain(t(locale, "modal.case")),
        "close": plain(t(locale, "modal.cancel")),
        "blocks": blocks[:100],
    }


def loading_modal(locale: str) -> Block:
    return notice_modal(locale, t(locale, "loading"))


def notice_modal(locale: str, text: str) -> Block:
    """A modal that only says something (a refusal where the case would have been)."""
    return {
        "type": "modal",
        "title": plain(t(locale, "modal.case")),
        "close": plain(t(locale, "modal.cancel")),
        "blocks": [{"type": "section", "text": mrkdwn(text)}],
    }


def _form(callback_id: str, locale: str, title: str, reference: str, blocks: list[Block]) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps({"reference": reference}),
        "title": plain(t(locale, f"modal.{title}")),
        "submit": plain(t(locale, "modal.submit")),
        "close": plain(t(locale, "modal.cancel")),
        "blocks": [{"type": "section", "text": mrkdwn(f"*{reference}*")}, *blocks],
    }


def text_input(
    block_id: str, label: str, *, multiline: bool = True, optional: bool = False, hint: str = ""
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "optional": optional,
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": multiline,
            "max_length": 3000,
        },
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def option(text: str, value: str) -> Block:
    return {"text": plain(text), "value": value}


def decide_modal(case: CaseView, locale: str) -> Block:
    language = t(locale, f"language.{case.language}")
    choices = [option(translate(locale, f"decision.{d}"), d) for d in Decision]
    return _form(
        "ccm_decide",
        locale,
        "decide",
        case.reference,
        [
            {
                "type": "input",
                "block_id": "decision",
                "label": plain(t(locale, "input.decision")),
                "element": {"type": "radio_buttons", "action_id": "value", "options": choices},
            },
            text_input("reason", t(locale, "input.reason")),
            text_input(
                "explanation",
                t(locale, "input.explanation", language=language),
                optional=True,
                hint=t(locale, "input.explanation_hint", language=language),
            ),
        ],
    )


def add_action_modal(case: CaseView, locale: str) -> Block:
    kinds = [option(translate(locale, f"action_kind.{k}"), k) for k in ActionKind]
    return _form(
        "ccm_add_action",
        locale,
        "add_action",
        case.reference,
        [
            {
                "type": "input",
                "block_id": "kind",
                "label": plain(t(locale, "input.kind")),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": kinds,
                    "initial_option": kinds[0],
                },
            },
            text_input("description", t(locale, "input.description")),
            text_input("owner", t(locale, "input.owner"), multiline=False, optional=True),
            {
                "type": "input",
                "block_id": "due_date",
                "label": plain(t(locale, "input.due_date")),
                "optional": True,
                "element": {"type": "datepicker", "action_id": "value"},
            },
        ],
    )


def complete_action_modal(case: CaseView, locale: str) -> Block:
    open_actions = [a for a in case.actions if a.done_at is None]
    choices = [
        option(f"{translate(locale, f'action_kind.{a.kind}')}: {a.description}"[:75], str(a.id))
        for a in open_actions
    ]
    return _form(
        "ccm_complete_action",
        locale,
        "complete_action",
        case.reference,
        [
            {
                "type": "input",
                "block_id": "action",
                "label": plain(t(locale, "input.action")),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": choices,
                    "initial_option": choices[0],
                },
            },
            text_input("outcome", t(locale, "input.outcome")),
        ],
    )


def inform_modal(case: CaseView, locale: str) -> Block:
    language = t(locale, f"language.{case.language}")
    return _form(
        "ccm_inform_customer",
        locale,
        "inform_customer",
        case.reference,
        [text_input("summary", t(locale, "input.summary", language=language))],
    )


def reassign_modal(case: CaseView, departments: list[DepartmentView], locale: str) -> Block:
    choices = [option(d.name(locale), d.code) for d in departments if d.code != case.department]
    return _form(
        "ccm_reassign",
        locale,
        "reassign",
        case.reference,
        [
            {
                "type": "input",
                "block_id": "department",
                "label": plain(t(locale, "input.department")),
                "element": {"type": "static_select", "action_id": "value", "options": choices},
            }
        ],
    )


def summary_line(case: CaseSummary, locale: str, categories: dict[str, CategoryView]) -> Block:
    category = categories[case.category].label(locale) if case.category in categories else case.category
    overdue = f" · *{t(locale, 'overdue')}*" if case.overdue else ""
    text = f"*{case.reference}* · {category} · {translate(locale, f'status.{case.status}')}{overdue}"
    return {
        "type": "section",
        "text": mrkdwn(text),
        "accessory": button(locale, "ccm_open", "open", case.reference),
    }


def case_list(cases: list[CaseSummary], locale: str, categories: dict[str, CategoryView]) -> list[Block]:
    if not cases:
        return [{"type": "context", "elements": [mrkdwn(t(locale, "home.empty"))]}]
    return [summary_line(case, locale, categories) for case in cases]


def home_view(home: StaffHome, locale: str, categories: dict[str, CategoryView]) -> Block:
    blocks: list[Block] = [{"type": "header", "text": plain(t(locale, "home.title"))}]
    for title, cases in (("mine", home.mine), ("queue", home.queue)):
        blocks += [{"type": "section", "text": mrkdwn(f"*{t(locale, f'home.{title}')}*")}]
        blocks += case_list(cases, locale, categories)
        blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn(f"*{t(locale, 'home.due')}*")})
    if not home.due:
        blocks.append({"type": "context", "elements": [mrkdwn(t(locale, "home.empty"))]})
    for alert in home.due:
        state = t(locale, "home.breached" if alert.breached else "home.soon")
        text = t(
            locale,
            "home.due_line",
            reference=f"*{alert.reference}*",
            step=t(locale, f"sla_step.{alert.step}"),
            due_at=when(alert.due_at),
            state=state,
        )
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(text),
                "accessory": button(locale, "ccm_open", "open", alert.reference),
            }
        )
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn(f"*{t(locale, 'home.follow_ups')}*")})
    blocks += case_list(home.follow_ups, locale, categories)
    return {"type": "home", "blocks": blocks[:100]}
