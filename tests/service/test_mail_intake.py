"""E-mail intake's decisions: what a mail becomes, each mail once, on SQLite and PostgreSQL.

The mailbox side (IMAP, parsing) is tested in ``tests/mail``; here the mails are what the parser
hands over, and the assertions are what the customer and the department get.
"""

from __future__ import annotations

import datetime as dt
from itertools import count as numbers

import pytest
from sqlalchemy import select

from ccm_core.domain.complaint import ERASED
from ccm_core.domain.inbound_mail import InboundMail, MailOutcome, survey_score
from ccm_core.domain.queues import DeliveryStatus, NoticeKind, OutboxKind, StaffNotice
from ccm_core.i18n import translate
from ccm_core.service_layer import customer_data, mail_intake, services, views
from ccm_core.service_layer.mail_intake import IncomingMail, MailClaim, MailFile
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Clock
from tests.service.helpers import outbox, staff, to_informed

CUSTOMER = "ayse.demir@example.com.tr"
UIDS = numbers(1)


def arrived(uow: UnitOfWork, worker: str = "worker-1", folder: str = "INBOX") -> MailClaim:
    claim = mail_intake.claim_mail(uow, worker, folder=folder, uidvalidity=7, uid=next(UIDS))
    assert claim is not None
    return claim


def mail(text: str, **fields: object) -> IncomingMail:
    values: dict[str, object] = {
        "message_id": f"<{next(UIDS)}.customer@mail.example.com.tr>",
        "thread": (),
        "sender": CUSTOMER,
        "sender_name": "Ayşe Demir",
        "subject": "Siparişim hâlâ gelmedi",
        "text": text,
    }
    values.update(fields)
    return IncomingMail(**values)  # type: ignore[arg-type]


def take(uow: UnitOfWork, incoming: IncomingMail, claim: MailClaim | None = None, **options: object):
    settings: dict[str, object] = {"category": "delivery", "sender_limit": 10, "max_file_bytes": 1000}
    settings.update(options)
    return mail_intake.take_in_mail(uow, claim or arrived(uow), incoming, **settings)  # type: ignore[arg-type]


TURKISH = (
    "Merhaba, 4 gün önce verdiğim 55102 numaralı siparişim hala gelmedi ve kargo firması cevap vermiyor."
)


def test_a_new_mail_becomes_a_complaint_acknowledged_by_mail_in_the_customers_language(
    uow: UnitOfWork,
) -> None:
    result = take(uow, mail(TURKISH))

    assert result.outcome == MailOutcome.NEW_COMPLAINT
    case = views.get_complaint(uow, staff(uow, "admin@example.com"), result.reference)
    assert (case.channel, case.language, case.category) == ("email", "tr", "delivery")
    assert case.description.startswith("Siparişim hâlâ gelmedi\n\nMerhaba, 4 gün önce")
    [acknowledgement] = outbox(uow, result.reference)
    assert acknowledgement.kind == OutboxKind.ACKNOWLEDGEMENT
    assert (acknowledgement.channel, acknowledgement.recipient) == ("email", CUSTOMER)
    assert acknowledgement.status == DeliveryStatus.PENDING  # mailed, not shown in a chat
    assert acknowledgement.body == translate("tr", "outbox.acknowledgement", reference=result.reference)


def test_the_category_falls_back_to_other_and_the_language_to_what_the_mail_declares(uow: UnitOfWork) -> None:
    result = take(uow, mail("12345", subject="", content_language="de"), category=None)
    case = views.get_complaint(uow, staff(uow, "admin@example.com"), result.reference)
    assert (case.category, case.language) == ("other", "de")


def test_a_mail_is_taken_in_once_however_often_it_is_claimed_or_copied(uow: UnitOfWork) -> None:
    first = arrived(uow)
    incoming = mail(TURKISH)
    result = take(uow, incoming, first)
    # The same mail again (a crash before the move): the claim says it is decided, only the move is left.
    with uow:
        row = uow.session.get(InboundMail, first.id)
        assert row is not None
        folder, uid = row.folder, row.uid
    again = mail_intake.claim_mail(uow, "worker-2", folder=folder, uidvalidity=7, uid=uid)
    assert again is not None and again.outcome == MailOutcome.NEW_COMPLAINT
    # A copy under another UID (delivered twice, or to two folders): a duplicate, no second case.
    copy = take(uow, incoming)
    assert (copy.outcome, copy.reference) == (MailOutcome.DUPLICATE, result.reference)
    assert len(outbox(uow, result.reference)) == 1


def test_two_workers_one_mail_one_decision(uow: UnitOfWork, clock: Clock) -> None:
    claim = mail_intake.claim_mail(uow, "worker-1", folder="INBOX", uidvalidity=9, uid=501)
    assert claim is not None
    assert mail_intake.claim_mail(uow, "worker-2", folder="INBOX", uidvalidity=9, uid=501) is None
    clock.advance(seconds=301)  # worker-1 died holding it: its lease runs out
    takeover = mail_intake.claim_mail(uow, "worker-2", folder="INBOX", uidvalidity=9, uid=501)
    assert takeover is not None and takeover.token > claim.token
    taken = take(uow, mail(TURKISH), takeover)
    late = take(uow, mail(TURKISH), claim)  # worker-1 wakes up: fenced out, told what happened
    assert late.outcome == MailOutcome.NEW_COMPLAINT and late.reference == taken.reference
    with uow:
        assert len(uow.complaints.of_customer(uow.customers.by_identity("email", CUSTOMER))) == 1


def test_a_reply_in_the_thread_joins_the_case_and_reaches_the_department(uow: UnitOfWork) -> None:
    first = take(uow, mail(TURKISH))
    [acknowledgement] = outbox(uow, first.reference)
    reply = mail(
        "Kargo takip numarası TR123 ama hiçbir hareket yok.",
        subject="Re: Şikayetiniz",
        thread=(f"<outbox.{acknowledgement.id}.0@ccm.example.com>",),
    )
    result = take(uow, reply, category=None)
    assert (result.outcome, result.reference) == (MailOutcome.ADDED_TO_CASE, first.reference)
    with uow:
        case = uow.complaints.get(first.reference)
        assert case is not None
        assert [(m.author, m.channel, m.body) for m in case.messages] == [
            ("customer", "email", "Kargo takip numarası TR123 ama hiçbir hareket yok.")
        ]
    with uow:
        kinds = uow.session.scalars(select(StaffNotice.kind).order_by(StaffNotice.id)).all()
    assert kinds[-1] == NoticeKind.CUSTOMER_MESSAGE
    # The customer's own Message-IDs thread the answers.
    assert mail_intake.mail_thread(uow, first.reference) == [
        row for row in _message_ids(uow) if row.endswith("@mail.example.com.tr>")
    ]


def test_a_subject_naming_the_reference_joins_the_case_only_from_the_customers_address(
    uow: UnitOfWork,
) -> None:
    first = take(uow, mail(TURKISH))
    own = take(uow, mail("Bir de fatura yanlış.", subject=f"AW: {first.reference.lower()}"))
    assert (own.outcome, own.reference) == (MailOutcome.ADDED_TO_CASE, first.reference)
    stranger = take(uow, mail("Ich habe auch ein Problem.", subject=first.reference, sender="x@example.de"))
    assert stranger.outcome == MailOutcome.NEW_COMPLAINT and stranger.reference != first.reference


def test_a_reply_on_a_closed_case_opens_a_new_one(uow: UnitOfWork) -> None:
    first = take(uow, mail(TURKISH))
    services.withdraw_complaint(uow, staff(uow, "admin@example.com"), first.reference)
    result = take(uow, mail("Yine aynı sorun.", subject=f"Re: {first.reference}"))
    assert result.outcome == MailOutcome.NEW_COMPLAINT and result.reference != first.reference


@pytest.mark.parametrize(
    ("answer", "status", "closed"),
    [("5\n\nTeşekkürler", "closed", True), ("2 - hâlâ çözülmedi", "follow_up", False)],
)
def test_a_survey_answered_by_replying_with_a_score_counts(
    uow: UnitOfWork, answer: str, status: str, closed: bool
) -> None:
    first = take(uow, mail(TURKISH))
    lead = staff(uow, "elif.kaya@example.com")
    to_informed(uow, lead, first.reference)
    services.send_survey(uow, lead, first.reference)
    result = take(uow, mail(answer, subject=f"Re: Memnuniyet Anketi: {first.reference}"))
    assert result.outcome == MailOutcome.SURVEY_ANSWER
    assert views.get_complaint(uow, lead, first.reference).status == status
    with uow:
        case = uow.complaints.get(first.reference)
        assert case is not None
        assert [(r.score, r.source, r.satisfied) for r in case.survey_responses] == [
            (int(answer[0]), "email", closed)
        ]
    if not closed:  # the follow-up notice goes out by mail: it was not "shown in place"
        notice = outbox(uow, first.reference)[-1]
        assert (notice.kind, notice.status) == (OutboxKind.FOLLOW_UP_NOTICE, DeliveryStatus.PENDING)


def test_a_sender_over_the_limit_is_held_not_filed(uow: UnitOfWork) -> None:
    results = [take(uow, mail(f"Şikayet {n}: siparişim gelmedi"), sender_limit=2) for n in range(3)]
    assert [r.outcome for r in results] == [MailOutcome.NEW_COMPLAINT] * 2 + [MailOutcome.HELD]
    assert results[-1].reason == "more than 2 mails from this sender in an hour"
    assert results[-1].reference is None


def test_attachments_are_kept_and_one_over_the_limit_is_refused_with_a_mail_saying_so(
    uow: UnitOfWork,
) -> None:
    files = (
        MailFile("fatura.pdf", "application/pdf", b"%PDF-1.4 small"),
        MailFile("video kaydı.mp4", "video/mp4", b"x" * 5000),
    )
    result = take(uow, mail(TURKISH, files=files), max_file_bytes=1000)
    view = views.get_complaint(uow, staff(uow, "admin@example.com"), result.reference)
    assert [(a.name, a.content_type, a.size, a.kept, a.refused) for a in view.attachments] == [
        ("fatura.pdf", "application/pdf", 14, True, None),
        ("video kaydı.mp4", "video/mp4", 5000, False, "too_large"),
    ]
    with uow:
        case = uow.complaints.get(result.reference)
        assert case is not None
        kept = case.attachments[0].storage_key
    assert kept is not None and uow.attachments.read(kept) == b"%PDF-1.4 small"
    refused = outbox(uow, result.reference)[-1]
    assert refused.kind == OutboxKind.ATTACHMENT_REFUSED and refused.recipient == CUSTOMER
    assert "video kaydı.mp4" in refused.body and "0.001 MB" in refused.body and "dosya" in refused.body


def test_erasing_the_customer_removes_their_files_and_the_trail_of_their_mails(uow: UnitOfWork) -> None:
    result = take(uow, mail(TURKISH, files=(MailFile("foto.jpg", "image/jpeg", b"\xff\xd8jpeg"),)))
    with uow:
        case = uow.complaints.get(result.reference)
        assert case is not None
        key = case.attachments[0].storage_key
    assert key is not None
    customer_data.erase_customer_data(uow, staff(uow, "admin@example.com"), result.reference)
    assert not (uow.settings.attachment_root / key).exists()
    with uow:
        case = uow.complaints.get(result.reference)
        assert case is not None
        assert [(a.name, a.storage_key) for a in case.attachments] == [(ERASED, None)]
        rows = uow.session.scalars(select(InboundMail).where(InboundMail.complaint_id == case.id)).all()
        assert [(r.message_id, r.message_key, r.sender_key) for r in rows] == [(None, None, None)]


def test_a_mail_set_aside_keeps_its_reason_without_addresses(uow: UnitOfWork) -> None:
    claim = arrived(uow)
    assert mail_intake.set_mail_aside(uow, claim, MailOutcome.UNREADABLE, "bad sender ayse@example.com")
    with uow:
        row = uow.session.get(InboundMail, claim.id)
        assert row is not None and row.outcome == MailOutcome.UNREADABLE
        assert "ayse@example.com" not in (row.reason or "")


def test_a_released_mail_waits_before_another_try(uow: UnitOfWork, clock: Clock) -> None:
    claim = arrived(uow)
    with uow:
        row = uow.session.get(InboundMail, claim.id)
        assert row is not None
        folder, uid = row.folder, row.uid
    mail_intake.release_mail(uow, claim, retry_in=dt.timedelta(seconds=30))
    assert mail_intake.claim_mail(uow, "worker-2", folder=folder, uidvalidity=7, uid=uid) is None
    clock.advance(seconds=31)
    again = mail_intake.claim_mail(uow, "worker-2", folder=folder, uidvalidity=7, uid=uid)
    assert again is not None and again.attempts == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, None)),
        ("4/5 teşekkürler", (4, "teşekkürler")),
        ("Puan: 3\nKargo geç geldi", (3, "Kargo geç geldi")),
        ("1.", (1, None)),
        ("I waited 5 days", None),
        ("9", None),
        ("55102", None),
        ("", None),
    ],
)
def test_what_counts_as_a_score(text: str, expected: tuple[int, str | None] | None) -> None:
    assert survey_score(text, range(1, 6)) == expected


def _message_ids(uow: UnitOfWork) -> list[str]:
    with uow:
        found = uow.session.scalars(select(InboundMail.message_id).order_by(InboundMail.id)).all()
        return [m for m in found if m]
