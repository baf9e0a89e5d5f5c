"""E-mail intake's use cases: a mail in the product's mailbox becomes a complaint, joins one, or is set aside.

The worker reads the mailbox (``channels.mail_intake``); these functions decide, each in one
transaction. ``claim_mail`` leases a mail to one worker; ``take_in_mail`` writes what the mail
became (a new complaint with its acknowledgement, a message on the customer's case, a survey
answer, or held back) together with the mail's outcome, so a crash before the commit leaves the
mail to be taken again and a crash after it leaves only the move out of the folder to do.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ccm_core.domain import policy, validation
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.customer import CustomerIdentity
from ccm_core.domain.inbound_mail import (
    InboundMail,
    MailOutcome,
    message_key,
    outbox_message_in,
    reference_in,
    sender_key,
    survey_score,
)
from ccm_core.domain.lifecycle import Channel, Command, Language, Status
from ccm_core.domain.policy import Actor
from ccm_core.domain.privacy import mask_personal_data
from ccm_core.domain.records import CaseAttachment
from ccm_core.domain.survey import CSAT_POINTS, SurveyAnswer
from ccm_core.language import detect_language
from ccm_core.service_layer.services import MAX_NAME_LENGTH, customer_for, new_complaint
from ccm_core.service_layer.unit_of_work import UnitOfWork

FALLBACK_CATEGORY = "other"  # when the assistant cannot tell the topic, the department triages it
SENDER_WINDOW = dt.timedelta(hours=1)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|wg|fw|fwd|ynt|ilt|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class MailFile:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class IncomingMail:
    """What the intake needs of a parsed mail; the text is the customer's own words, without quotes."""

    message_id: str | None
    thread: tuple[str, ...]  # the Message-IDs it answers: In-Reply-To, then References
    sender: str
    sender_name: str | None
    subject: str
    text: str
    content_language: str | None = None
    files: tuple[MailFile, ...] = ()


@dataclass(frozen=True)
class MailClaim:
    """A mail leased to one worker; ``outcome`` is set when it was handled and only the move is left."""

    id: int
    token: int
    attempts: int
    outcome: MailOutcome | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MailResult:
    outcome: MailOutcome
    reference: str | None = None
    reason: str | None = None


def claim_mail(
    uow: UnitOfWork, worker: str, *, folder: str, uidvalidity: int, uid: int, lease_seconds: int = 300
) -> MailClaim | None:
    """Lease the mail at ``uid`` to ``worker``; None while another worker holds it."""
    with uow:
        row = uow.inbound_mails.find(folder, uidvalidity, uid)
        if row is None:
            now = uow.now()
            uow.inbound_mails.add(
                InboundMail(folder=folder, uidvalidity=uidvalidity, uid=uid, received_at=now, attempts=0)
            )
            try:
                uow.commit()
            except IntegrityError:  # another worker saw it in the same moment: its row stands
                uow.rollback()
    with uow:
        row = uow.inbound_mails.find(folder, uidvalidity, uid)
        if row is None:
            return None
        if row.outcome is not None:
            return MailClaim(row.id, row.claim_token, row.attempts, row.outcome, row.reason)
        if not uow.inbound_mails.take(row.id, worker, uow.now(), lease_seconds):
            return None
        uow.commit()
    with uow:
        taken = uow.inbound_mails.find(folder, uidvalidity, uid)
        assert taken is not None
        return MailClaim(taken.id, taken.claim_token, taken.attempts)


def mail_case(uow: UnitOfWork, mail: IncomingMail) -> str | None:
    """The open case of the sender's that this mail answers or names, if any (to skip classifying it)."""
    with uow:
        case = _case_of(uow, mail)
        return case.reference if case else None


def take_in_mail(
    uow: UnitOfWork,
    claim: MailClaim,
    mail: IncomingMail,
    *,
    category: str | None,
    sender_limit: int,
    max_file_bytes: int,
) -> MailResult:
    """Whatever the mail becomes, written with its outcome in one transaction.

    A copy of a mail already handled is a duplicate; a sender over ``sender_limit`` mails an hour
    is held; a reply on the sender's own open case (by its thread or the reference in its
    subject) is added to it, or answers its survey when it is a score; anything else is a new
    complaint in ``category`` (the assistant's prediction, else "other").
    """
    sender = (validation.email(mail.sender) or "").lower()
    with uow:
        row = uow.inbound_mails.held(claim.id, claim.token)
        if row is None:
            return _already(uow, claim)
        now = uow.now()
        key = message_key(mail.message_id) if mail.message_id else None
        from_key = sender_key(uow.settings.secret_key or "ccm", sender)
        result, case = _decide(
            uow, row, mail, sender, key, from_key, now, category, sender_limit, max_file_bytes
        )
        row.message_key, row.message_id, row.sender_key = key, (mail.message_id or "")[:998] or None, from_key
        row.outcome, row.reason, row.complaint = result.outcome, result.reason, case
        row.finished_at, row.lease_until = now, None
        uow.commit()
        return result


def set_mail_aside(uow: UnitOfWork, claim: MailClaim, outcome: MailOutcome, reason: str) -> bool:
    """A mail that is no complaint (an auto-reply, a bounce) or cannot be read: kept out, with why."""
    with uow:
        if uow.inbound_mails.held(claim.id, claim.token) is None:
            return False
        reason = mask_personal_data(reason)[:2000]
        uow.inbound_mails.write(
            claim.id, outcome=outcome, reason=reason, finished_at=uow.now(), lease_until=None
        )
        uow.commit()
        return True


def release_mail(uow: UnitOfWork, claim: MailClaim, *, retry_in: dt.timedelta) -> None:
    """Taking the mail in failed for a reason that passes (the database, the assistant): try again later."""
    with uow:
        if uow.inbound_mails.held(claim.id, claim.token) is not None:
            uow.inbound_mails.write(claim.id, lease_until=uow.now() + retry_in)
            uow.commit()


def mail_moved(uow: UnitOfWork, claim: MailClaim) -> None:
    """The mail left the folder read, for the one its outcome names."""
    with uow:
        uow.inbound_mails.write(claim.id, moved_at=uow.now())
        uow.commit()


def mail_thread(uow: UnitOfWork, reference: str) -> list[str]:
    """The customer's Message-IDs on a case, oldest first: what a mail to them answers (``References``)."""
    with uow:
        case = uow.complaints.get(reference)
        return list(uow.inbound_mails.thread(case.id)) if case else []


# --- deciding ---


def _decide(
    uow: UnitOfWork,
    row: InboundMail,
    mail: IncomingMail,
    sender: str,
    key: str | None,
    from_key: str,
    now: dt.datetime,
    category: str | None,
    sender_limit: int,
    max_file_bytes: int,
) -> tuple[MailResult, Complaint | None]:
    """What the mail becomes, and the case it joined or opened (None when it joined none)."""
    if key and (copy := uow.inbound_mails.handled_copy(key, row.id)):
        case = uow.complaints.alone(copy.complaint_id) if copy.complaint_id else None
        return MailResult(
            MailOutcome.DUPLICATE, case.reference if case else None, "a copy was taken in before"
        ), case
    if uow.inbound_mails.handled_from(from_key, now - SENDER_WINDOW) >= sender_limit:
        return MailResult(
            MailOutcome.HELD, None, f"more than {sender_limit} mails from this sender in an hour"
        ), None
    actor = Actor.customer(channel=Channel.EMAIL, external_id=sender)
    case = _case_of(uow, mail, sender)
    if case is not None:
        _own_identity(uow, case, sender)
        answer = survey_score(mail.text, range(CSAT_POINTS[0], CSAT_POINTS[-1] + 1))
        if case.status == Status.SURVEY_SENT and answer is not None:
            _answer_survey(uow, actor, case, now, *answer)
            return MailResult(MailOutcome.SURVEY_ANSWER, case.reference), case
        policy.ensure_allowed(actor, Command.ADD_CUSTOMER_MESSAGE, case)
        case.add_customer_message(actor, now, body=_body(mail), author="customer", channel=Channel.EMAIL)
        _attach(case, actor, now, mail, uow, max_file_bytes)
        return MailResult(MailOutcome.ADDED_TO_CASE, case.reference), case
    idempotency_key = f"email:{key}" if key else None
    if idempotency_key and (earlier := uow.complaints.by_idempotency_key(idempotency_key)):
        return MailResult(MailOutcome.NEW_COMPLAINT, earlier.reference), earlier
    policy.ensure_allowed(actor, policy.RECORD)
    name = validation.text("name", mail.sender_name, max_length=MAX_NAME_LENGTH, required=False)
    complaint = new_complaint(
        uow,
        actor,
        now,
        channel=Channel.EMAIL,
        language=_language(mail),
        category=_category(uow, category),
        description=_description(uow, mail),
        customer=customer_for(uow, now, Channel.EMAIL, sender, name, sender, None),
        idempotency_key=idempotency_key,
    )
    _attach(complaint, actor, now, mail, uow, max_file_bytes)
    return MailResult(MailOutcome.NEW_COMPLAINT, complaint.reference), complaint


def _already(uow: UnitOfWork, claim: MailClaim) -> MailResult:
    """The lease ran out and another worker took the mail in: its outcome is the answer."""
    row = uow.inbound_mails.find_by_id(claim.id)
    if row is None or row.outcome is None:
        return MailResult(MailOutcome.DUPLICATE, None, "taken over by another worker")
    case = uow.complaints.alone(row.complaint_id) if row.complaint_id else None
    return MailResult(row.outcome, case.reference if case else None, row.reason)


def _case_of(uow: UnitOfWork, mail: IncomingMail, sender: str | None = None) -> Complaint | None:
    """The sender's own open case the mail answers (its thread) or names (the reference in the subject)."""
    sender = sender or (validation.email(mail.sender) or "").lower()
    complaint_id = uow.inbound_mails.case_of_outbox(
        [found for found in map(outbox_message_in, mail.thread) if found is not None]
    ) or uow.inbound_mails.case_of(mail.thread)
    case = uow.complaints.alone(complaint_id) if complaint_id else None
    if case is None and (reference := reference_in(mail.subject)):
        case = uow.complaints.get(reference)
    if case is None or case.status == Status.CLOSED or case.customer.erased_at is not None:
        return None
    customer = case.customer
    owns = customer.identity(Channel.EMAIL) == sender or (customer.email or "").lower() == sender
    return case if owns else None


def _own_identity(uow: UnitOfWork, case: Complaint, sender: str) -> None:
    """A customer known by the address on the case (given by phone, say) is known by it on e-mail too."""
    customer = case.customer
    if customer.identity(Channel.EMAIL) is None and uow.customers.by_identity(Channel.EMAIL, sender) is None:
        customer.identities.append(CustomerIdentity(channel=Channel.EMAIL, external_id=sender))


def _answer_survey(
    uow: UnitOfWork, actor: Actor, case: Complaint, now: dt.datetime, score: int, comment: str | None
) -> None:
    settings = uow.settings
    answer = SurveyAnswer.read(score, satisfied_from=settings.survey_satisfied_from, source="email")
    policy.ensure_allowed(actor, answer.command, case)
    comment = validation.text("comment", comment, max_length=settings.max_text_length, required=False)
    case.record_survey_answer(
        actor,
        now,
        answer=answer,
        comment=comment,
        sla=uow.organisation.sla_policy(),
        max_rounds=settings.survey_max_rounds,
    )


def _attach(
    case: Complaint, actor: Actor, now: dt.datetime, mail: IncomingMail, uow: UnitOfWork, max_file_bytes: int
) -> None:
    if not mail.files:
        return
    kept = []
    for file in mail.files:
        too_large = len(file.content) > max_file_bytes
        kept.append(
            CaseAttachment(
                name=file.name[:255],
                content_type=file.content_type[:127],
                size=len(file.content),
                storage_key=None
                if too_large
                else uow.attachments.put(case.reference, file.name, file.content),
                refused="too_large" if too_large else None,
            )
        )
    case.attach_files(actor, now, kept, max_bytes=max_file_bytes)


def _subject(mail: IncomingMail) -> str:
    return _REPLY_PREFIX.sub("", mail.subject).strip()


def _body(mail: IncomingMail) -> str:
    """What is added to the case: the words, else the subject, else the files' names."""
    return mail.text.strip() or _subject(mail) or ", ".join(file.name for file in mail.files)


def _description(uow: UnitOfWork, mail: IncomingMail) -> str:
    """The subject, then the words: a subject often says what the complaint is about."""
    subject, text = _subject(mail), mail.text.strip()
    description = (
        f"{subject}\n\n{text}" if subject and text and subject not in text else (text or _body(mail))
    )
    return description[: uow.settings.max_text_length]


def _language(mail: IncomingMail) -> str:
    """The language of the words, else of the subject, else the one the mail declares, else English."""
    detected = detect_language(mail.text) or detect_language(mail.subject)
    declared = mail.content_language if mail.content_language in set(Language) else None
    return detected or declared or Language.EN


def _category(uow: UnitOfWork, predicted: str | None) -> str:
    for code in (predicted, FALLBACK_CATEGORY):
        row = uow.organisation.category(code) if code else None
        if row is not None and row.active:
            return row.code
    return next(row.code for row in uow.organisation.categories() if row.active)
