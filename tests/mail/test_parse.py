"""Raw mails as mail programs send them (``tests/fixtures/mail``) read into exactly what the intake sees,
and each rule of reading on a mail of its own: loops and bounces, charsets, names, files, refusals."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from channels.mail_intake.parse import Attachment, ParsedMail, Unparseable, parse_mail

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"
TURKEY = dt.timezone(dt.timedelta(hours=3))
GERMANY = dt.timezone(dt.timedelta(hours=1))


def fixture(name: str) -> ParsedMail:
    return parse_mail((FIXTURES / name).read_bytes())


def mail(headers: str = "", body: str = "Body.", sender: str = "Ayşe Demir <ayse@example.com.tr>") -> bytes:
    """A mail with a From line, the given headers and body; CRLF as IMAP hands it over."""
    return f"From: {sender}\nSubject: Test\n{headers}\n{body}\n".replace("\n", "\r\n").encode()


def multipart(*parts: str, kind: str = "mixed", headers: str = "") -> bytes:
    """A multipart mail of the given parts (each its headers, a blank line and its body)."""
    body = "".join(f"--b\n{part}\n" for part in parts) + "--b--"
    return mail(f'{headers}MIME-Version: 1.0\nContent-Type: multipart/{kind}; boundary="b"\n', body)


# --- the fixtures ---


def test_a_plain_turkish_mail_in_quoted_printable_with_an_encoded_subject() -> None:
    assert fixture("plain_tr.eml") == ParsedMail(
        message_id="<CAHk5x9vQ2mTr+7aZkL1o0Wq@mail.example.com.tr>",
        in_reply_to=(),
        references=(),
        sender="ayse.demir@example.com.tr",
        sender_name="Ayşe Demir",
        subject="Siparişim hâlâ gelmedi",
        text=(
            "Merhaba,\n\n22 Kasım'da verdiğim 55102 numaralı siparişim hâlâ gelmedi. Kargo takip sayfası\n"
            '10 gündür "dağıtımda" diyor ve çağrı merkezine ulaşamıyorum. Lütfen yardımcı olun.\n\n'
            "Ayşe Demir"
        ),
        content_language=None,
        automatic=None,
        attachments=(),
        date=dt.datetime(2026, 12, 3, 9, 41, 7, tzinfo=TURKEY),
    )


def test_an_html_only_german_outlook_mail_in_latin_1_is_made_plain() -> None:
    parsed = fixture("html_only_de.eml")
    assert parsed.subject == "Rückerstattung für Bestellung 77120 fehlt - bitte um Klärung"
    assert (parsed.sender, parsed.sender_name) == ("j.weiss@example.de", "Jürgen Weiß")
    assert (parsed.content_language, parsed.automatic, parsed.attachments) == ("de", None, ())
    assert parsed.text == (
        "Sehr geehrte Damen und Herren,\n\n"
        "meine Rückerstattung für die Bestellung 77120 ist seit drei Wochen nicht eingegangen.\n"
        "Ich bitte um eine schnelle Klärung.\n\n"
        "Mit freundlichen Grüßen\nJürgen Weiß"
    )
    assert parsed.date == dt.datetime(2026, 12, 2, 16, 2, 41, tzinfo=GERMANY)


def test_a_gmail_mail_with_files_is_read_from_its_plain_part_and_keeps_its_files_whole() -> None:
    parsed = fixture("multipart_attachments_en.eml")
    assert parsed.text == (  # the plain part's own line break: not the HTML alternative
        "Hello,\n\nthe kettle from order 88213 stopped working after two days. The invoice and a photo of "
        "the\nbroken switch are attached. I would like a replacement.\n\nBest regards,\nJohn Smith"
    )
    assert [(file.name, file.content_type, file.size) for file in parsed.attachments] == [
        ("invoice-88213.pdf", "application/pdf", 125),
        ("kopuk düğme.png", "image/png", 69),  # RFC 2231, UTF-8
    ]
    pdf, png = parsed.attachments
    assert pdf.content.startswith(b"%PDF-1.4\n") and pdf.content.endswith(b"%%EOF\n")
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and png.content.endswith(b"IEND\xaeB`\x82")


def test_a_gmail_reply_is_the_new_words_alone_and_names_the_mails_it_answers() -> None:
    parsed = fixture("reply_quoted_en.eml")
    assert parsed.text == "The serial number on the kettle is KT-55-0192, in case you need it."
    assert parsed.in_reply_to == ("<outbox.12.0@ccm.example.com>",)
    assert parsed.references == (
        "<CAJm0cK3+fQx9_pV2bQx0Zt@mail.example.com>",
        "<outbox.12.0@ccm.example.com>",
    )
    assert (parsed.message_id, parsed.subject) == (
        "<CAJm0cK4+reply-2@mail.example.com>",
        "Re: Your complaint CMP-2026-000012",
    )
    assert parsed.automatic is None


def test_an_outlook_reply_in_german_loses_the_header_block_and_the_mail_under_it() -> None:
    parsed = fixture("reply_outlook_de.eml")
    assert parsed.text == (
        "Das Geld ist immer noch nicht auf meinem Konto. Die Kontonummer endet auf 4471.\n\n"
        "Mit freundlichen Grüßen\nJürgen Weiß"
    )
    assert (parsed.subject, parsed.content_language) == ("AW: Ihre Beschwerde CMP-2026-000031", "de")
    assert parsed.in_reply_to == parsed.references == ("<outbox.31.0@ccm.example.com>",)


def test_a_turkish_gmail_reply_loses_its_signature_and_the_quote() -> None:
    parsed = fixture("reply_tr.eml")
    assert parsed.text == "Kargo firması bugün aradı ama paket hâlâ gelmedi."
    assert parsed.subject == "Re: Şikayetiniz CMP-2026-000007"
    assert parsed.in_reply_to == ("<outbox.7.0@ccm.example.com>",)
    assert parsed.message_id == "<CAHk5x9vQ3reply@mail.example.com.tr>"


def test_a_survey_answered_from_an_iphone_is_the_score_alone() -> None:
    parsed = fixture("survey_reply_score_tr.eml")
    assert parsed.text == "5"
    assert parsed.subject == "Re: Memnuniyet Anketi: şikayetiniz CMP-2026-000007"
    assert parsed.in_reply_to == ("<outbox.19.0@ccm.example.com>",)


@pytest.mark.parametrize(
    ("name", "reason", "language"),
    [
        ("out_of_office_en.eml", "Auto-Submitted: auto-replied", "en"),  # Exchange Online
        ("out_of_office_de.eml", "Auto-Submitted: auto-replied", None),  # Gmail's vacation responder
    ],
)
def test_out_of_office_replies_are_marked_as_sent_by_a_machine(
    name: str, reason: str, language: str | None
) -> None:
    parsed = fixture(name)
    assert (parsed.automatic, parsed.content_language) == (reason, language)
    assert parsed.in_reply_to[0].startswith("<outbox.")  # a reply to our mail, which is why it must not count


def test_a_postfix_bounce_is_a_delivery_status_notification_with_its_report_as_files() -> None:
    parsed = fixture("bounce_postfix.eml")
    assert parsed.automatic == "delivery status notification"
    assert (parsed.sender, parsed.sender_name) == (
        "mailer-daemon@mail.ccm.example.com",
        "Mail Delivery System",
    )
    assert parsed.text.startswith("This is the mail system at host mail.ccm.example.com.\n\n")
    assert [(file.name, file.content_type, file.size) for file in parsed.attachments] == [
        ("attachment-1.bin", "message/delivery-status", 462),
        ("attachment-2.bin", "text/rfc822-headers", 477),
    ]
    assert parsed.attachments[0].content.startswith(b"Reporting-MTA: dns; mail.ccm.example.com\r\n")
    assert b"Message-ID: <outbox.44.0@ccm.example.com>\r\n" in parsed.attachments[1].content


def test_binary_garbage_is_refused_as_having_no_sender() -> None:
    with pytest.raises(Unparseable, match=r"^no sender address \(From\)$"):
        fixture("garbage.eml")


# --- loops and bounces ---


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied\n", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: Auto-Generated\n", "Auto-Submitted: auto-generated"),
        ('Auto-Submitted: auto-replied; owner-email="boss@example.com"\n', "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: no\n", None),  # RFC 3834: a person's mail
        ("X-MS-Exchange-Inbox-Rules-Loop: ayse@example.com.tr\n", "X-MS-Exchange-Inbox-Rules-Loop"),
        ("X-Autoreply: yes\n", "X-Autoreply"),
        ("X-Autorespond: Your complaint\n", "X-Autorespond"),
        ("X-Auto-Response-Suppress: All\n", None),  # Outlook asks not to be answered; a person wrote it
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply\n", None),
        ("Precedence: bulk\n", "Precedence: bulk"),
        ("Precedence: JUNK\n", "Precedence: junk"),
        ("Precedence: list\n", "Precedence: list"),
        ("Precedence: auto_reply\n", "Precedence: auto_reply"),
        ("Precedence: first-class\n", None),
        ("Return-Path: <>\n", "empty Return-Path"),
        ("Return-Path: < >\n", "empty Return-Path"),
        ("Return-Path: <ayse@example.com.tr>\n", None),
        ("List-Id: Offers <offers.shop.example.com>\n", "mailing list (List-Id)"),
        ("List-Unsubscribe: <mailto:unsubscribe@shop.example.com>\n", "newsletter (List-Unsubscribe)"),
        ("Reply-To: MAILER-DAEMON@example.com\n", None),  # who wrote is From, not Reply-To
    ],
)
def test_each_header_a_machine_writes_is_read_and_a_persons_mail_is_not_mistaken(
    headers: str, reason: str | None
) -> None:
    assert parse_mail(mail(headers)).automatic == reason


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.com (Mail Delivery System)", "sent by mailer-daemon"),
        ("Mail Delivery Subsystem <mailer-daemon@example.de>", "sent by mailer-daemon"),
        ("Postmaster <POSTMASTER@example.com.tr>", "sent by postmaster"),
        ("Mailer Daemon Fan <fan@example.com>", None),
    ],
)
def test_a_mail_system_as_sender_is_a_machine(sender: str, reason: str | None) -> None:
    assert parse_mail(mail(sender=sender)).automatic == reason


def test_the_first_of_several_signs_is_the_reason() -> None:
    headers = "Return-Path: <>\nAuto-Submitted: auto-replied\nPrecedence: bulk\nList-Id: <x.example.com>\n"
    assert parse_mail(mail(headers)).automatic == "Auto-Submitted: auto-replied"


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ("delivery-status", "delivery status notification"),
        ("disposition-notification", "read receipt"),
    ],
)
def test_reports_are_read_from_their_type(report: str, reason: str) -> None:
    raw = multipart("Content-Type: text/plain\n\nReport.", kind=f"report; report-type={report}")
    assert parse_mail(raw).automatic == reason


@pytest.mark.parametrize(
    ("kind", "fields", "reason"),
    [
        ("delivery-status", "Reporting-MTA: dns; mx.example.com", "delivery status notification"),
        ("global-delivery-status", "Reporting-MTA: dns; mx.example.com", "delivery status notification"),
        (
            "disposition-notification",
            "Disposition: manual-action/MDN-sent-manually; displayed",
            "read receipt",
        ),
    ],
)
def test_reports_are_read_from_their_parts_when_the_type_does_not_say(
    kind: str, fields: str, reason: str
) -> None:
    report = f"Content-Type: message/{kind}\n\n{fields}\n"
    assert parse_mail(multipart("Content-Type: text/plain\n\nReport.", report)).automatic == reason


def test_a_bounce_the_customer_forwarded_is_their_mail_with_the_bounce_attached() -> None:
    bounce = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="inner"\n\n'
        "--inner\nContent-Type: text/plain\n\nUndeliverable.\n"
        "--inner\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n--inner--"
    )
    raw = multipart(
        "Content-Type: text/plain; charset=utf-8\n\nMy mail to you bounced, see below.",
        "Content-Type: message/rfc822\n\nFrom: MAILER-DAEMON@example.com\nSubject: Undelivered Mail\n"
        + bounce,
    )
    parsed = parse_mail(raw)
    assert (parsed.automatic, parsed.text) == (None, "My mail to you bounced, see below.")
    assert [(file.name, file.content_type) for file in parsed.attachments] == [
        ("Undelivered Mail.eml", "message/rfc822")
    ]


# --- refusals ---


def test_a_mail_over_50_mb_is_too_large() -> None:
    with pytest.raises(Unparseable, match=r"^too large$"):
        parse_mail(mail(body="x" * 50_000_000))


@pytest.mark.parametrize(
    "sender",
    ["", "MAILER-DAEMON", "undisclosed-recipients:;", "<>", "Ayşe Demir", "@example.com", "ayse@"],
)
def test_a_mail_without_a_usable_from_address_is_refused(sender: str) -> None:
    with pytest.raises(Unparseable, match=r"^no sender address \(From\)$"):
        parse_mail(mail(sender=sender))


@pytest.mark.parametrize(
    "raw",
    [
        # base64 that is not base64
        mail(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n", "Kargo gelmedi!!"
        ),
        # a transfer encoding nobody can decode
        mail("Content-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: x-gzip64\n", "H4sI"),
        # a multipart whose boundary never comes
        mail('Content-Type: multipart/mixed; boundary="b"\n', "Only text, no boundary."),
        # parts, but none that is text or a file
        multipart('Content-Type: multipart/alternative; boundary="c"\n\nno boundary either'),
    ],
)
def test_a_mail_with_neither_readable_text_nor_a_file_is_refused(raw: bytes) -> None:
    with pytest.raises(Unparseable, match=r"^no readable text or attachment$"):
        parse_mail(raw)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Content-Type: text/plain; name*=\x00''x\n", "malformed mail (ValueError)"),  # a NUL in a charset
        ("Content-Disposition: attachment; filename*\n", "malformed mail (IndexError)"),  # a parser's bug
    ],
)
def test_a_mail_the_email_package_cannot_read_is_refused_not_crashed_on(headers: str, reason: str) -> None:
    with pytest.raises(Unparseable) as refused:
        parse_mail(mail(headers, "JVBERi0="))
    assert str(refused.value) == reason


def test_unreadable_text_beside_a_file_leaves_the_file() -> None:
    raw = multipart(
        "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nnot base64 at all!",
        'Content-Type: application/pdf; name="fatura.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0=',
    )
    parsed = parse_mail(raw)
    assert parsed.text == ""
    assert parsed.attachments == (Attachment("fatura.pdf", "application/pdf", b"%PDF-"),)


def test_a_mail_with_only_a_subject_is_read_with_no_text() -> None:
    parsed = parse_mail(mail("Content-Type: text/plain; charset=utf-8\n", ""))
    assert (parsed.subject, parsed.text, parsed.attachments) == ("Test", "", ())


# --- charsets and headers ---


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        ("x-unknown", "Sipariş gelmedi".encode("windows-1254"), "Sipariş gelmedi"),  # Windows Turkish
        ("x-unknown", "Sipariş gelmedi".encode(), "Sipariş gelmedi"),  # then UTF-8 is tried first
        ("utf-8", "Grüße, Weiß".encode("latin-1"), "Grüße, Weiß"),  # a charset that lied
        ("us-ascii", "İade lütfen".encode(), "İade lütfen"),  # 8-bit text under the default charset
        ("iso-8859-9", "Şikâyet".encode("iso-8859-9"), "Şikâyet"),  # the declared charset comes first
        ("x-unknown", b"x\x81y", "x\x81y"),  # a byte Windows Turkish lacks: Latin-1 reads anything
        ("utf\x00-8", b"plain ascii", "plain ascii"),  # a charset name Python refuses outright
    ],
)
def test_text_in_an_unknown_or_wrong_charset_falls_back_and_is_read(
    charset: str, body: bytes, text: str
) -> None:
    head = f'From: a@example.com\r\nContent-Type: text/plain; charset="{charset}"\r\n'
    head += "Content-Transfer-Encoding: 8bit\r\n\r\n"
    assert parse_mail(head.encode("latin-1") + body + b"\r\n").text == text


def test_raw_8bit_headers_are_read_in_utf_8_and_windows_turkish() -> None:
    raw = "From: Gül Şahin <gul@example.com.tr>\r\nSubject: Fatura hatası\r\n\r\nFaturam yanlış.\r\n"
    for encoded in (raw.encode(), raw.encode("windows-1254")):
        parsed = parse_mail(encoded)
        assert (parsed.sender_name, parsed.subject, parsed.sender) == (
            "Gül Şahin",
            "Fatura hatası",
            "gul@example.com.tr",
        )


@pytest.mark.parametrize(
    ("subject", "decoded"),
    [
        ("=?UTF-8?B?xZ5pa2F5ZXQ=?=", "Şikayet"),
        ("=?utf-8?q?=C4=B0ade_talebi?=", "İade talebi"),
        ("=?ISO-8859-1?Q?Gr=FC=DFe?= aus =?iso-8859-1?q?K=F6ln?=", "Grüße aus Köln"),
        ("=?UTF-8?Q?Sipari=C5=9F?=\r\n =?UTF-8?Q?im_h=C3=A2l=C3=A2?=\r\n\tgelmedi", "Siparişim hâlâ gelmedi"),
        ("=?windows-1254?Q?=DEikayet?=", "Şikayet"),
        ("=?x-unknown?Q?Sipari=FEim?=", "Siparişim"),  # an unknown charset falls back to Windows Turkish
        ("=?UTF-8*tr?Q?=C3=BCr=C3=BCn?=", "ürün"),  # RFC 2231 language in an encoded word
        ("=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="),  # not an encoded word: kept as it came
        ("  Re:   AW:\r\n   Ihre   Beschwerde  ", "Re: AW: Ihre Beschwerde"),
        ("", ""),
    ],
)
def test_subjects_are_decoded_and_their_whitespace_normalised(subject: str, decoded: str) -> None:
    raw = f"From: a@example.com\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
    assert parse_mail(raw).subject == decoded


def test_a_mail_without_a_subject_has_an_empty_one() -> None:
    assert parse_mail(b"From: a@example.com\r\n\r\nx\r\n").subject == ""


@pytest.mark.parametrize(
    ("sender", "address", "name"),
    [
        ("=?UTF-8?Q?=C4=B0smail_I=C5=9F=C4=B1k?= <Ismail.Isik@Example.COM.tr>", "ismail.isik@example.com.tr",
         "İsmail Işık"),
        ('"Weiß, Jürgen" <j.weiss@example.de>', "j.weiss@example.de", "Weiß, Jürgen"),
        ("j.weiss@example.de (Jürgen Weiß)", "j.weiss@example.de", "Jürgen Weiß"),
        ("<kunde@example.de>", "kunde@example.de", None),
        ("kunde@example.de", "kunde@example.de", None),
        ("Ayşe <ayse@example.com.tr>, Mehmet <mehmet@example.com.tr>", "ayse@example.com.tr", "Ayşe"),
    ],
)  # fmt: skip
def test_the_sender_is_the_from_address_lower_cased_with_its_decoded_name(
    sender: str, address: str, name: str | None
) -> None:
    raw = f"From: {sender}\r\nReply-To: other@example.com\r\n\r\nx\r\n".encode()
    assert (parse_mail(raw).sender, parse_mail(raw).sender_name) == (address, name)


def test_message_ids_are_read_whole_in_order_once_each() -> None:
    raw = mail(
        "Message-ID:\n <CAHk5x9v@mail.example.com.tr> \n"
        "In-Reply-To: <outbox.7.0@ccm.example.com> (Your message of Mon, 2 Dec 2026)\n"
        "References: <a@example.com>\n\t<outbox.7.0@ccm.example.com> <a@example.com>\n <b@exa\n mple.com>\n"
    )
    parsed = parse_mail(raw)
    assert parsed.message_id == "<CAHk5x9v@mail.example.com.tr>"
    assert parsed.in_reply_to == ("<outbox.7.0@ccm.example.com>",)
    assert parsed.references == ("<a@example.com>", "<outbox.7.0@ccm.example.com>", "<b@example.com>")


def test_a_mail_without_ids_has_none() -> None:
    parsed = parse_mail(mail())
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == (None, (), ())


@pytest.mark.parametrize(
    ("value", "language"),
    [("de-DE", "de"), ("tr", "tr"), ("EN-gb, de", "en"), ("de_AT", "de"), ("x-klingon", None), ("deu", None)],
)
def test_the_content_language_is_the_first_tags_language(value: str, language: str | None) -> None:
    assert parse_mail(mail(f"Content-Language: {value}\n")).content_language == language


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("Thu, 3 Dec 2026 09:41:07 +0300", dt.datetime(2026, 12, 3, 9, 41, 7, tzinfo=TURKEY)),
        ("Thu,  3 Dec 2026 09:41:07 +0300 (+03)", dt.datetime(2026, 12, 3, 9, 41, 7, tzinfo=TURKEY)),
        ("3 Dec 2026 06:41:07 -0000", dt.datetime(2026, 12, 3, 6, 41, 7, tzinfo=dt.UTC)),
        ("Thu, 3 Dec 2026 06:41:07", dt.datetime(2026, 12, 3, 6, 41, 7, tzinfo=dt.UTC)),
        ("yesterday", None),
        ("Thu, 3 Dec 2026 25:61:07 +0300", None),
    ],
)
def test_the_date_is_timezone_aware_or_none(value: str, date: dt.datetime | None) -> None:
    assert parse_mail(mail(f"Date: {value}\n")).date == date


def test_a_mail_without_a_date_has_none() -> None:
    assert parse_mail(mail()).date is None


# --- text and files ---


def test_an_html_only_mail_is_made_plain_and_its_quote_cut() -> None:
    raw = mail(
        "Content-Type: text/html; charset=utf-8\n",
        "<html><head><style>p{}</style></head><body><p>Paket hâlâ yok.</p><blockquote>Eski metin."
        "</blockquote></body></html>",
    )
    assert parse_mail(raw).text == "Paket hâlâ yok."


def test_the_plain_alternative_is_preferred_wherever_it_stands() -> None:
    raw = multipart(
        "Content-Type: text/html; charset=utf-8\n\n<p>Aus dem HTML</p>",
        "Content-Type: text/plain; charset=utf-8\n\nAus dem Text",
        kind="alternative",
    )
    assert parse_mail(raw).text == "Aus dem Text"


def test_an_empty_plain_alternative_gives_way_to_the_html() -> None:
    raw = multipart(
        "Content-Type: text/plain\n\n ",
        "Content-Type: text/html; charset=utf-8\n\n<p>Nur im HTML: Grüße</p>",
        kind="alternative",
    )
    assert parse_mail(raw).text == "Nur im HTML: Grüße"


def test_text_around_an_inline_photo_is_joined_and_the_photo_is_a_file() -> None:
    raw = multipart(  # Apple Mail: the text, the photo where it was put, the rest of the text
        "Content-Type: text/plain; charset=utf-8\n\nDer Deckel ist gebrochen:",
        "Content-Type: image/jpeg; name=IMG_0001.jpeg\nContent-Disposition: inline; filename=IMG_0001.jpeg\n"
        "Content-Transfer-Encoding: base64\n\n/9j/4AAQ",
        "Content-Type: text/plain; charset=utf-8\n\nBitte ersetzen.",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Der Deckel ist gebrochen:\n\nBitte ersetzen."
    assert parsed.attachments == (Attachment("IMG_0001.jpeg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10"),)


def test_files_in_every_branch_of_an_alternative_count() -> None:
    related = (
        'Content-Type: multipart/related; boundary="r"\n\n'
        "--r\nContent-Type: text/html\n\n<p>Photo below</p><img src=cid:p1>\n"
        "--r\nContent-Type: image/png\nContent-ID: <p1>\nContent-Transfer-Encoding: base64\n\n"
        "iVBORw0KGgo=\n--r--"
    )
    parsed = parse_mail(multipart("Content-Type: text/plain\n\nPhoto below", related, kind="alternative"))
    assert parsed.text == "Photo below"
    assert parsed.attachments == (Attachment("attachment-1.png", "image/png", b"\x89PNG\r\n\x1a\n"),)


def test_a_text_file_sent_as_an_attachment_is_a_file_not_the_text() -> None:
    raw = multipart(
        "Content-Type: text/plain\n\nSee the file.",
        'Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename="notlar.txt"\n\n'
        "Sipariş 55102",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "See the file."
    assert parsed.attachments == (Attachment("notlar.txt", "text/plain", "Sipariş 55102".encode()),)


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ('attachment; filename="=?UTF-8?B?xLBhZGUgZm9ybXUucGRm?="', "İade formu.pdf"),  # Outlook, Gmail
        ("attachment; filename*=iso-8859-1''Gr%FC%DFe.pdf", "Grüße.pdf"),
        ("attachment; filename*0*=UTF-8''%C4%B0ade%20;\n filename*1*=formu.pdf", "İade formu.pdf"),
        ('attachment; filename="C:\\\\Users\\\\ayse\\\\Desktop\\\\fatura.pdf"', "fatura.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename=".htaccess"', "htaccess"),
        ('attachment; filename="a\\"b|c?.pdf"', "a_b_c_.pdf"),
        ('attachment; filename="   "', "attachment-1.pdf"),
        ("attachment", "attachment-1.pdf"),
        (f'attachment; filename="{"ş" * 200}.pdf"', "ş" * 146 + ".pdf"),
    ],
)
def test_file_names_are_decoded_and_made_safe(disposition: str, name: str) -> None:
    raw = multipart(
        "Content-Type: text/plain\n\nFatura ekte.",
        f"Content-Type: application/pdf\nContent-Disposition: {disposition}\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0=",
    )
    assert [file.name for file in parse_mail(raw).attachments] == [name]


def test_a_file_without_a_known_type_is_named_with_bin() -> None:
    raw = multipart("Content-Type: text/plain\n\nx", "Content-Type: application/x-unknown\n\nbytes")
    assert parse_mail(raw).attachments == (Attachment("attachment-1.bin", "application/x-unknown", b"bytes"),)


def test_a_forwarded_mail_is_an_eml_file_named_after_its_subject_and_kept_as_it_came() -> None:
    forwarded = (
        "From: shop@example.com\nSubject: =?UTF-8?Q?Sipari=C5=9F_55102_/_kargo?=\nX-Odd: a\n\tfolded value\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nKargonuz yola çıktı.\n"
        "From now on, track it online."
    )
    raw = multipart(
        "Content-Type: text/plain\n\nSee the shop's mail.",
        f"Content-Type: message/rfc822\n\n{forwarded}",
        "Content-Type: message/rfc822\n\nFrom: shop@example.com\n\nNo subject.",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "See the shop's mail."
    assert [(file.name, file.content_type) for file in parsed.attachments] == [
        ("Sipariş 55102 _ kargo.eml", "message/rfc822"),
        ("attachment-2.eml", "message/rfc822"),
    ]
    assert parsed.attachments[0].content == forwarded.replace("\n", "\r\n").encode()
    inner = message_from_bytes(parsed.attachments[0].content, policy=policy.default)
    assert (inner["Subject"], inner.get_content()) == (
        "Sipariş 55102 / kargo",
        "Kargonuz yola çıktı.\r\nFrom now on, track it online.",  # not mangled to ">From"
    )
