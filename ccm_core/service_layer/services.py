"""The use cases of the complaint process, one function each, each one transaction.

Adapters (HTTP API, CLI, chat actions, Slack, the worker) call these and nothing
below them. Every function takes the unit of work and the ``Actor`` asking, checks
the actor's permission, applies the change through the ``Complaint`` aggregate and
commits the change, its audit event and its outbox messages together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ccm_core.domain import policy, validation
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import Customer, CustomerIdentity
from ccm_core.domain.errors import (
    ConcurrentUpdate,
    PermissionDenied,
    ValidationFailed,
)
from ccm_core.domain.lifecycle import (
    ActionKind,
    Channel,
    Command,
    Decision,
    Language,
    Priority,
)
from ccm_core.domain.organisation import Staff
from ccm_core.domain.policy import Actor
from ccm_core.domain.survey import SurveyAnswer, load_survey
from ccm_core.domain.survey_link import survey_url
from ccm_core.service_layer.access import active_staff
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView, case_view, load_for
from ccm_core.settings import CoreSettings

MAX_NAME_LENGTH = 200
MAX_REFERENCE_LENGTH = 100


@dataclass(frozen=True)
class CustomerDetails:
    """What the case needs to reach the customer; every field is optional."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    channel_identity: str | None = None  # Telegram chat id, WhatsApp number, web session id


@dataclass(frozen=True)
class Recorded:
    """The recorded complaint; ``created`` is False when an earlier intake with the same key is returned."""

    case: CaseView
    created: bool


# --- intake ---


def record_complaint(
    uow: UnitOfWork,
    actor: Actor,
    *,
    channel: str,
    language: str,
    category: str,
    description: str,
    customer: CustomerDetails = CustomerDetails(),
    priority: str = Priority.NORMAL,
    idempotency_key: str | None = None,
    external_reference: str | None = None,
) -> Recorded:
    """02/04: create the complaint record; the same idempotency key returns the same complaint."""
    channel = validation.choice("channel", channel, Channel)
    language = validation.choice("language", language, Language)
    priority = validation.choice("priority", priority, Priority)
    description = validation.text("description", description, max_length=uow.settings.max_text_length)
    external_reference = validation.text(
        "external_reference", external_reference, max_length=MAX_REFERENCE_LENGTH, required=False
    )
    idempotency_key = validation.text("idempotency_key", idempotency_key, max_length=200, required=False)
    name = validation.text("name", customer.name, max_length=MAX_NAME_LENGTH, required=False)
    email, phone = validation.email(customer.email), validation.phone(customer.phone)
    identity = actor.external_id if actor.kind == "customer" else customer.channel_identity
    identity = validation.text("channel_identity", identity, max_length=128, required=False)
    policy.ensure_allowed(actor, policy.RECORD)

    try:
        with uow:
            if idempotency_key and (existing := uow.complaints.by_idempotency_key(idempotency_key)):
                return Recorded(case_view(existing, uow.now()), created=False)
            now = uow.now()
            complaint = new_complaint(
                uow,
                actor,
                now,
                channel=channel,
                language=language,
                category=category,
                description=description,
                customer=customer_for(uow, now, channel, identity, name, email, phone),
                priority=priority,
                idempotency_key=idempotency_key,
                external_reference=external_reference,
            )
            uow.commit()
            return Recorded(case_view(complaint, now), created=True)
    except IntegrityError:
        # Two deliveries of the same intake raced; the first one's complaint is the answer.
        if not idempotency_key:
            raise
        with uow:
            existing = uow.complaints.by_idempotency_key(idempotency_key)
            if existing is None:
                raise
            return Recorded(case_view(existing, uow.now()), created=False)


def new_complaint(
    uow: UnitOfWork,
    actor: Actor,
    now: dt.datetime,
    *,
    channel: str,
    language: str,
    category: str,
    description: str,
    customer: Customer,
    priority: str = Priority.NORMAL,
    idempotency_key: str | None = None,
    external_reference: str | None = None,
) -> Complaint:
    """The complaint record, added to the open unit of work (checked values; the caller commits)."""
    category_row = uow.organisation.category(str(category).strip().lower())
    if category_row is None or not category_row.active:
        choices = ", ".join(c.code for c in uow.organisation.categories())
        raise ValidationFailed(field="category", problem="unknown_choice", value=category, choices=choices)
    number = uow.complaints.next_reference_number(now.year)
    complaint = Complaint.record(
        actor=actor,
        now=now,
        reference=f"CMP-{now.year}-{number:06d}",
        channel=channel,
        language=language,
        category=category_row,
        description=description,
        customer=customer,
        priority=priority,
        sla=uow.organisation.sla_policy(),
        idempotency_key=idempotency_key,
        external_reference=external_reference,
    )
    uow.complaints.add(complaint)
    return complaint


def customer_for(
    uow: UnitOfWork,
    now: dt.datetime,
    channel: str,
    identity: str | None,
    name: str | None,
    email: str | None,
    phone: str | None,
) -> Customer:
    """The customer known by this chat identity (details refreshed), or a new one."""
    customer = uow.customers.by_identity(channel, identity) if identity else None
    if customer is None:
        customer = Customer(name=name, email=email, phone=phone, created_at=now)
        if identity:
            customer.identities.append(CustomerIdentity(channel=channel, external_id=identity))
        uow.customers.add(customer)
        return customer
    customer.name = name or customer.name
    customer.email = email or customer.email
    customer.phone = phone or customer.phone
    return customer


# --- the department's side ---


def _change(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    use_case: str,
    change: Callable[[Complaint, dt.datetime], object],
) -> CaseView:
    """Load, check permission, apply ``change``, commit: the shape of every lifecycle use case."""
    with uow:
        complaint = load_for(uow, actor, reference, use_case)
        now = uow.now()
        change(complaint, now)
        uow.commit()
        return case_view(complaint, now)


def start_review(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """03: the responsible department starts reviewing; the 05 interim notice is queued."""
    return _change(uow, actor, reference, Command.START_REVIEW, lambda c, now: c.start_review(actor, now))


def decide_complaint(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    *,
    justified: bool,
    reason: str,
    customer_explanation: str | None = None,
) -> CaseView:
    """06: the final decision. Of two simultaneous decisions exactly one is recorded."""
    decision = Decision.JUSTIFIED if justified else Decision.UNJUSTIFIED
    command = Command.DECIDE_JUSTIFIED if justified else Command.DECIDE_UNJUSTIFIED
    max_length = uow.settings.max_text_length
    reason = validation.text("reason", reason, max_length=max_length) or ""
    customer_explanation = validation.text(
        "customer_explanation", customer_explanation, max_length=max_length, required=not justified
    )
    try:
        return _change(
            uow,
            actor,
            reference,
            command,
            lambda c, now: c.decide(
                actor,
                now,
                decision=decision,
                reason=reason,
                customer_explanation=customer_explanation,
                sla=uow.organisation.sla_policy(),
            ),
        )
    except ConcurrentUpdate as conflict:
        with uow:
            complaint = uow.complaints.get(reference)
            if complaint is not None and complaint.decision is not None:
                raise complaint.already_decided_error() from conflict
        raise


def add_action(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    *,
    kind: str,
    description: str,
    owner_email: str | None = None,
    due_date: dt.date | None = None,
) -> CaseView:
    """07: a corrective or preventive action with its owner and due date."""
    action_kind = validation.choice("kind", kind, ActionKind)
    description = validation.text("description", description, max_length=uow.settings.max_text_length) or ""

    def change(complaint: Complaint, now: dt.datetime) -> None:
        owner = active_staff(uow, owner_email) if owner_email else None
        complaint.add_action(
            actor, now, kind=action_kind, description=description, owner=owner, due_date=due_date
        )

    return _change(uow, actor, reference, Command.ADD_ACTION, change)


def complete_action(
    uow: UnitOfWork, actor: Actor, reference: str, *, action_id: int, outcome: str
) -> CaseView:
    """07: an action is done, with its outcome."""
    outcome = validation.text("outcome", outcome, max_length=uow.settings.max_text_length) or ""
    return _change(
        uow,
        actor,
        reference,
        Command.COMPLETE_ACTION,
        lambda c, now: c.complete_action(actor, now, action_id=action_id, outcome=outcome),
    )


def inform_customer(uow: UnitOfWork, actor: Actor, reference: str, *, summary: str) -> CaseView:
    """08: tell the customer what was done (queued in the customer's language); the survey is scheduled."""
    summary = validation.text("summary", summary, max_length=uow.settings.max_text_length) or ""
    return _change(
        uow,
        actor,
        reference,
        Command.INFORM_CUSTOMER,
        lambda c, now: c.inform_customer(
            actor,
            now,
            summary=summary,
            sla=uow.organisation.sla_policy(),
            survey_delay_hours=uow.settings.survey_delay_hours,
        ),
    )


def send_survey(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """09: queue the satisfaction survey now (staff need not wait for the worker's schedule)."""
    return _change(
        uow, actor, reference, Command.SEND_SURVEY, lambda c, now: queue_survey(uow, c, actor, now)
    )


def queue_survey(uow: UnitOfWork, complaint: Complaint, actor: Actor, now: dt.datetime) -> None:
    """09 with this deployment's survey definition, signed link and reminder and expiry times."""
    settings = uow.settings
    complaint.send_survey(
        actor,
        now,
        survey=load_survey(settings.survey_file),
        link=survey_link(settings, complaint),
        reminder_hours=settings.survey_reminder_hours,
        expiry_hours=settings.survey_expiry_hours,
    )


def queue_survey_reminder(uow: UnitOfWork, complaint: Complaint, actor: Actor, now: dt.datetime) -> None:
    """The one reminder of a round, with the same choices and link as its survey."""
    settings = uow.settings
    complaint.remind_survey(
        actor, now, survey=load_survey(settings.survey_file), link=survey_link(settings, complaint)
    )


def survey_link(settings: CoreSettings, complaint: Complaint) -> str:
    """The signed survey page of the case's current round, for customers who are not in a chat."""
    round_ = complaint.follow_up_round
    return survey_url(settings.public_url, settings.secret_key, complaint.reference, round_)


def record_survey_answer(
    uow: UnitOfWork,
    actor: Actor,
    reference: str,
    *,
    score: int,
    comment: str | None = None,
    nps: int | None = None,
    source: str | None = None,
) -> CaseView:
    """10: satisfied closes the case; not satisfied opens a follow-up round (11).

    ``nps`` (0–10) is optional here: the page and the chat form ask it when the setting is on, but
    an answer taken by phone or typed outside the form may come without it. ``source`` is "chat",
    "link" or "staff"; by default a customer's answer came from the chat, anyone else's from staff.
    """
    comment = validation.text("comment", comment, max_length=uow.settings.max_text_length, required=False)
    answer = SurveyAnswer.read(
        score,
        satisfied_from=uow.settings.survey_satisfied_from,
        nps=nps,
        source=source or ("chat" if actor.kind == "customer" else "staff"),
    )
    return _change(
        uow,
        actor,
        reference,
        answer.command,
        lambda c, now: c.record_survey_answer(
            actor,
            now,
            answer=answer,
            comment=comment,
            sla=uow.organisation.sla_policy(),
            max_rounds=uow.settings.survey_max_rounds,
        ),
    )


def expire_survey(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """An unanswered survey closes the case as "no response"."""
    return _change(uow, actor, reference, Command.EXPIRE_SURVEY, lambda c, now: c.expire_survey(actor, now))


def start_follow_up(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """11: reopen the case to its department for a new action or proposal."""
    return _change(
        uow,
        actor,
        reference,
        Command.START_FOLLOW_UP,
        lambda c, now: c.start_follow_up(actor, now, sla=uow.organisation.sla_policy()),
    )


def close_complaint(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    return _change(uow, actor, reference, Command.CLOSE, lambda c, now: c.close(actor, now))


def withdraw_complaint(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    return _change(uow, actor, reference, Command.WITHDRAW, lambda c, now: c.withdraw(actor, now))


def add_customer_message(
    uow: UnitOfWork, actor: Actor, reference: str, *, body: str, channel: str | None = None
) -> CaseView:
    """Information added to an open case, by the customer or by staff who took it by phone."""
    body = validation.text("body", body, max_length=uow.settings.max_text_length) or ""
    author = "customer" if actor.kind == "customer" else "staff"

    def change(complaint: Complaint, now: dt.datetime) -> None:
        complaint.add_customer_message(
            actor, now, body=body, author=author, channel=channel or actor.channel or complaint.channel
        )

    return _change(uow, actor, reference, Command.ADD_CUSTOMER_MESSAGE, change)


def request_human(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """The customer asked to talk to a person; the case is flagged for its department's staff."""
    return _change(uow, actor, reference, Command.REQUEST_HUMAN, lambda c, now: c.request_human(actor, now))


def reassign_complaint(uow: UnitOfWork, actor: Actor, reference: str, *, department: str) -> CaseView:
    """Hand the case to another department (a wrong routing, say)."""

    def change(complaint: Complaint, now: dt.datetime) -> None:
        target = uow.organisation.department(department.strip().lower())
        if target is None or not target.active:
            choices = ", ".join(d.code for d in uow.organisation.departments() if d.active)
            raise ValidationFailed(
                field="department", problem="unknown_choice", value=department, choices=choices
            )
        complaint.reassign(actor, now, department=target)

    return _change(uow, actor, reference, Command.REASSIGN, change)


def take_complaint(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """The staff member takes the case as theirs (it shows under "my cases")."""
    return _change(
        uow,
        actor,
        reference,
        Command.TAKE,
        lambda c, now: c.take(actor, now, staff=_acting_staff(uow, actor)),
    )


def reply_to_customer(uow: UnitOfWork, actor: Actor, reference: str, *, text: str) -> CaseView:
    """During a handoff the staff member's words go to the customer's chat, signed with their name."""
    text = validation.text("text", text, max_length=uow.settings.max_text_length) or ""

    def change(complaint: Complaint, now: dt.datetime) -> None:
        complaint.reply_to_customer(actor, now, text=text, staff_name=_acting_staff(uow, actor).name)

    return _change(uow, actor, reference, Command.REPLY_TO_CUSTOMER, change)


def hand_back_to_assistant(uow: UnitOfWork, actor: Actor, reference: str) -> CaseView:
    """End the handoff: the assistant answers the customer again, and tells them so."""
    return _change(uow, actor, reference, Command.HAND_BACK, lambda c, now: c.hand_back(actor, now))


def _acting_staff(uow: UnitOfWork, actor: Actor) -> Staff:
    """The staff row behind ``actor``; a token that stands for no person cannot take or sign."""
    staff = uow.organisation.staff(actor.staff_id) if actor.staff_id else None
    if staff is None:
        raise PermissionDenied(why="not_a_person", label=actor.label)
    return staff


# --- SLA: telling the customer when the review runs long ---


def send_review_delay_notices(uow: UnitOfWork) -> int:
    """05: tell each customer whose undecided case is past or near its decision deadline, once per case.

    The "near" window is the SLA alerts' (``sla_soon_hours``). Run by the worker every minute, by
    several workers at once: the case's version column lets one of two writers commit and the other
    moves on, and ``delay_notice_at`` is stored with the message, so a restart repeats nothing.
    Returns how many customers were told now.
    """
    with uow:
        soon_until = uow.now() + dt.timedelta(hours=uow.settings.sla_soon_hours)
        references = uow.complaints.reviews_running_long(soon_until)
    actor = Actor.system("sla")
    told = 0
    for reference in references:
        try:
            with uow:
                complaint = uow.complaints.get(reference)
                if complaint is not None and complaint.tell_customer_review_runs_long(actor, uow.now()):
                    uow.commit()
                    told += 1
        except ConcurrentUpdate:
            continue  # another worker told this customer, or staff decided the case, just now
    return told
