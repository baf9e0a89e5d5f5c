"""A raw mail (bytes, as IMAP hands it over) read into what the intake needs, with the standard library.

Mail from real clients is often not what the RFCs say: charsets that do not exist or lie, raw 8-bit
headers, broken base64. Text is therefore decoded with fallbacks (the declared charset, then UTF-8,
Windows Turkish, Latin-1) rather than refused; only a mail with no sender, or with neither readable
text nor an attachment, is ``Unparseable``. A mail a machine sent (an auto-reply, a bounce, a read
receipt, a list's mail) is marked ``automatic`` with the evidence, so the intake neither files nor
answers it: answering an auto-reply is how mail loops start. Nothing here logs; a mail's text and
addresses never reach a reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import mimetypes
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import errors, policy
from email.message import Message
from email.parser import BytesParser

from channels.mail_intake.clean import customer_words, html_to_text

MAX_MAIL_BYTES = 50_000_000  # 50 MB: the product counts megabytes in decimal
_FALLBACK_CHARSETS = ("utf-8", "windows-1254")  # windows-1254: older Turkish mail programs; then Latin-1
_DECODABLE = frozenset(
    {"7bit", "8bit", "binary", "quoted-printable", "base64", "x-uuencode", "uuencode", "x-uue", "uue"}
)
_BROKEN_BASE64 = (errors.InvalidBase64CharactersDefect, errors.InvalidBase64LengthDefect)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_ENCODED_WORDS = re.compile(r"(?<=\?=)\s+(?==\?)")  # RFC 2047: that whitespace is not text
# What the email package raises on malformed mail as it reads it (found by fuzzing the fixtures): a
# header parser's IndexError, a NUL in an RFC 2231 charset's ValueError, a HeaderParseError.
_EMAIL_PACKAGE_ERRORS = (errors.MessageError, ValueError, IndexError)
_MESSAGE_ID = re.compile(r"<[^<>]+>")
_TOKEN = re.compile(r"[a-z0-9-]{1,40}")
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')  # control characters and what Windows refuses
_MAX_NAME = 150
_EXTENSIONS = mimetypes.MimeTypes()  # the standard library's own table, not the host's /etc/mime.types
_DELIVERY_STATUS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_MACHINE_SENDERS = frozenset({"mailer-daemon", "postmaster"})


@dataclass(frozen=True)
class Attachment:
    """A file the customer sent, whole: the intake decides what to keep."""

    name: str  # decoded (RFC 2231/2047), without a path; "attachment-2.pdf" when the mail names none
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedMail:
    """What the intake files, or joins to a case when the mail answers one of ours."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: str  # the From address, lower-cased: who wrote (Reply-To is where a list wants answers)
    sender_name: str | None
    subject: str
    text: str  # the customer's own words, without the quoted history and signature
    content_language: str | None
    automatic: str | None  # why a machine sent it; None for a person's mail
    attachments: tuple[Attachment, ...]
    date: dt.datetime | None


class _AsReceived(policy.Compat32):
    """Writes a forwarded mail back with its headers as they came: refolding them can fail on odd values."""

    def fold_binary(self, name: str, value: str) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_RAW = _AsReceived(linesep="\r\n", mangle_from_=False)  # compat32 would write "From " lines as ">From "


class Unparseable(ValueError):
    """The mail cannot be read; ``str(error)`` is the reason staff see (English, short, no personal data)."""


def parse_mail(raw: bytes) -> ParsedMail:
    """Reads a mail as fetched; raises ``Unparseable`` when it has no sender or nothing to read."""
    if len(raw) > MAX_MAIL_BYTES:
        raise Unparseable("too large")
    try:
        return _read(BytesParser(policy=policy.default).parsebytes(raw))
    except Unparseable:
        raise
    except _EMAIL_PACKAGE_ERRORS as broken:
        raise Unparseable(f"malformed mail ({type(broken).__name__})") from None


def _read(mail: Message) -> ParsedMail:
    """The mail's parts read; apart from parse_mail because the email package raises as parts are read."""
    sender_name, sender = _sender(mail)  # binary garbage has no headers, so no sender either
    if not sender:
        raise Unparseable("no sender address (From)")
    text = _text(mail)
    attachments = tuple(
        _attachment(part, number) for number, part in enumerate(_attached_parts(mail), start=1)
    )
    if text is None and not attachments:
        raise Unparseable("no readable text or attachment")
    message_id = "".join(_raw_header(mail, "Message-ID").split())
    return ParsedMail(
        message_id=message_id or None,
        in_reply_to=_message_ids(_raw_header(mail, "In-Reply-To")),
        references=_message_ids(_raw_header(mail, "References")),
        sender=sender,
        sender_name=sender_name,
        subject=_decoded(_raw_header(mail, "Subject")),
        text=customer_words(text or ""),
        content_language=_language(_raw_header(mail, "Content-Language")),
        automatic=_automatic(mail, sender),
        attachments=attachments,
        date=_date(_raw_header(mail, "Date")),
    )


# --- headers ---


def _raw_header(part: Message, name: str) -> str:
    """The first such header as it came, unfolded, 8-bit bytes read as text; "" when absent.

    Read from the raw value rather than the policy's parsed header, whose RFC 2047 decoding turns an
    unknown charset into U+FFFD and whose parsing of malformed headers is not ours to rely on.
    """
    value = next((value for key, value in part.raw_items() if key.lower() == name.lower()), "")
    # The parser keeps each 8-bit byte as a surrogate: back to bytes, then read like a body.
    return _text_of(re.sub(r"\r?\n", "", value).encode("utf-8", "surrogateescape"), None)


def _decoded(value: str) -> str:
    """A header's text: RFC 2047 words decoded (each charset with the fallbacks), whitespace normalised."""

    def word(match: re.Match[str]) -> str:
        charset, encoding, data = match.groups()
        try:
            if encoding in "bB":
                octets = base64.b64decode(data + "=" * (-len(data) % 4))
            else:
                octets = quopri.decodestring(data.encode("ascii"), header=True)
        except (binascii.Error, ValueError):  # not base64 after all, or not ASCII: shown as it came
            return match.group(0)
        return _text_of(octets, charset.partition("*")[0])  # RFC 2231 adds "*language" to the charset

    return " ".join(_ENCODED_WORD.sub(word, _BETWEEN_ENCODED_WORDS.sub("", value)).split())


def _sender(mail: Message) -> tuple[str | None, str]:
    """The display name and address of the first From mailbox that has a domain; (None, "") for none."""
    for name, address in email.utils.getaddresses([_raw_header(mail, "From")]):
        local, at, domain = address.strip().rpartition("@")
        if at and local and domain:
            return _decoded(name) or None, address.strip().lower()
    return None, ""


def _message_ids(value: str) -> tuple[str, ...]:
    """The <ids> a header names, in order, each once; whitespace a client folded into one is removed."""
    return tuple(dict.fromkeys("".join(found.split()) for found in _MESSAGE_ID.findall(value)))


def _language(value: str) -> str | None:
    """The first tag's two-letter language: "de" for "de-DE, en-US"; None for "x-klingon" or none."""
    primary = re.split(r"[-_]", value.split(",")[0].strip(), maxsplit=1)[0].lower()
    return primary if len(primary) == 2 and primary.isascii() and primary.isalpha() else None


def _date(value: str) -> dt.datetime | None:
    """The Date header; a date without a zone (or "-0000") is UTC, as RFC 5322 reads it."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # what a malformed date raises
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- loops and bounces ---


def _automatic(mail: Message, sender: str) -> str | None:
    """Why a machine sent the mail (RFC 3464, RFC 8098, RFC 3834, list headers); None for a person's.

    Outlook's ``X-Auto-Response-Suppress`` is not read: it asks others not to answer the mail, which
    Outlook, list servers and ticket systems put on ordinary mail too; it says nothing about who wrote
    it. What is read is what responders write on what they send: ``Auto-Submitted`` (RFC 3834, Gmail's
    vacation responder, Exchange, Postfix bounces), Exchange's ``X-MS-Exchange-Inbox-Rules-Loop`` on
    mail its inbox rules (an out-of-office among them) generated, and the older ``X-Autoreply`` /
    ``X-Autorespond`` of vacation scripts. No header's value is repeated when it can hold an address.
    """
    report = mail.get_param("report-type", "") if mail.get_content_type() == "multipart/report" else ""
    kinds = {part.get_content_type() for part in _leaves(mail)}
    if report == "delivery-status" or kinds & _DELIVERY_STATUS:
        return "delivery status notification"
    if report == "disposition-notification" or "message/disposition-notification" in kinds:
        return "read receipt"
    present = {key.lower() for key in mail}
    if "auto-submitted" in present:
        keyword = _raw_header(mail, "Auto-Submitted").partition(";")[0].strip().lower()
        if keyword != "no":
            return f"Auto-Submitted: {keyword}" if _TOKEN.fullmatch(keyword) else "Auto-Submitted"
    for header in ("X-MS-Exchange-Inbox-Rules-Loop", "X-Autoreply", "X-Autorespond"):
        if header.lower() in present:
            return header
    precedence = _raw_header(mail, "Precedence").strip().lower()
    if precedence in _AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"
    local_part = sender.rpartition("@")[0]
    if local_part in _MACHINE_SENDERS:
        return f"sent by {local_part}"
    if "".join(_raw_header(mail, "Return-Path").split()) == "<>":
        return "empty Return-Path"
    if "list-id" in present:
        return "mailing list (List-Id)"
    if "list-unsubscribe" in present:
        return "newsletter (List-Unsubscribe)"
    return None


# --- text and attachments ---


def _leaves(part: Message) -> Iterator[Message]:
    """The parts that are not containers; a forwarded mail (any message/*) is one part, not opened."""
    if part.get_content_maintype() == "message" or not part.is_multipart():
        yield part
    else:
        for child in part.get_payload():
            yield from _leaves(child)


def _is_text(part: Message) -> bool:
    """Whether a part is the mail's text rather than a file: plain or HTML, not marked as an attachment."""
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
    )


def _attached_parts(mail: Message) -> Iterator[Message]:
    """Every part that is not text: files, inline images, forwarded mails, a report's machine parts.

    Files in every branch of a multipart/alternative count (Apple Mail puts photos beside the HTML
    only). A multipart the parser could not split (no boundary found) is neither text nor file.
    """
    for part in _leaves(mail):
        if not _is_text(part) and part.get_content_maintype() != "multipart":
            yield part


def _text(part: Message) -> str | None:
    """The text a reader sees, None when no text part could be decoded at all.

    Plain is preferred in an alternative (HTML made plain is a guess at layout); the text parts of a
    mixed mail are joined, as Apple Mail splits the text around an inline photo.
    """
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        children: list[Message] = list(part.get_payload())
        if part.get_content_subtype() == "alternative":
            children.sort(key=lambda child: child.get_content_type() != "text/plain")  # stable
        texts = [text for text in map(_text, children) if text is not None]
        if part.get_content_subtype() == "alternative":
            return next((text for text in texts if text.strip()), texts[0] if texts else None)
        return "\n\n".join(text for text in texts if text.strip()) if texts else None
    if not _is_text(part):
        return None
    payload = _payload(part)
    if payload is None:
        return None
    text = _text_of(payload, part.get_content_charset())
    return html_to_text(text) if part.get_content_subtype() == "html" else text.strip()


def _payload(part: Message) -> bytes | None:
    """A text part's bytes; None when its transfer encoding is unknown or its base64 is broken."""
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding not in _DECODABLE:
        return None
    payload = part.get_payload(decode=True)
    if any(isinstance(defect, _BROKEN_BASE64) for defect in part.defects):
        return None
    return payload if isinstance(payload, bytes) else None


def _text_of(payload: bytes, declared: str | None) -> str:
    """Bytes as text: the declared charset (ASCII when none), else UTF-8, Windows Turkish, Latin-1."""
    for charset in (declared or "ascii", *_FALLBACK_CHARSETS):
        try:
            return payload.decode(charset)
        except (LookupError, ValueError):  # a charset Python does not know, or one that lied
            continue
    return payload.decode("latin-1")


def _attachment(part: Message, number: int) -> Attachment:
    """A part as a file; a forwarded mail is named after its subject and kept as an .eml file."""
    kind = part.get_content_type()
    extension = _EXTENSIONS.guess_extension(kind) or ".bin"
    payload = part.get_payload()
    if isinstance(payload, list):  # message/*: the parser made messages of it; written back as they came
        content = b"".join(inner.as_bytes(policy=_RAW) for inner in payload)
        subject = _decoded(_raw_header(payload[0], "Subject")) if kind == "message/rfc822" and payload else ""
        name = _shortened(f"{_cleaned(subject)}{extension}") if _cleaned(subject) else ""
    else:
        content = part.get_payload(decode=True) or b""
        # The email package decodes RFC 2231 and RFC 2047 names; old clients send a whole Windows path.
        name = _shortened(_cleaned(re.split(r"[/\\]", part.get_filename() or "")[-1]))
    return Attachment(name or f"attachment-{number}{extension}", kind, content)


def _cleaned(name: str) -> str:
    """A name any file system takes: no control or reserved characters, not hidden (no leading dot)."""
    return " ".join(_UNSAFE_IN_NAMES.sub("_", name).split()).strip(". ")


def _shortened(name: str) -> str:
    """At most _MAX_NAME characters, keeping a file's extension so it still opens."""
    if len(name) <= _MAX_NAME:
        return name
    stem, dot, suffix = name.rpartition(".")
    suffix = f".{suffix}" if dot and len(suffix) <= 10 else ""
    return (stem if suffix else name)[: _MAX_NAME - len(suffix)] + suffix
