"""E-mail: what the process owes a customer who came by e-mail (or gave an address by phone), over SMTP.

One plain-text mail (UTF-8) per outbox message, in the case's language, with a subject naming the
reference; a survey and its reminder carry the signed link to the survey page, where a customer
outside the chat answers (or, with e-mail intake on, they reply with the score). A mail on a case
the customer wrote to us about by mail answers their mails (``In-Reply-To``, ``References``), so it
stays in their thread. The ``Message-ID`` is made from the outbox message's id, so a mail that went
out twice is recognisable as one, and a reply to it names the case.

The relay's answer decides what happens. A recipient it refuses for good (5xx) or a mail it will
never take fails the message with the relay's reason; a busy relay (4xx), a relay that is down, and
our own setup (sign-in, the sender address, STARTTLS) are tried again with back-off, so an operator
can fix them and nothing is lost. SMTP has no idempotency key: a send a crash interrupted is not
repeated (the worker records it as failed, with that reason, for staff to see). Addresses are
masked in every reason kept or logged, and a mail's text is never logged.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from ccm_core.domain.policy import Actor
from ccm_core.domain.privacy import mask_personal_data
from ccm_core.i18n import translate
from ccm_core.service_layer import mail_intake, views
from channels.context import ChannelContext
from channels.messages import Reply
from channels.sending import DeliveryFailed, Notice
from channels.settings import ChannelSettings

CHANNEL = "email"
TIMEOUT_SECONDS = 30.0
READER = Actor.system("email")  # reads an outbox message's payload (the survey link) to write the mail
PERMANENT = 500  # SMTP reply codes from here on: the relay will not take it, however often asked
MAX_REFERENCES = 10  # of the customer's Message-IDs in References: enough for any mail program to thread


def message_id(key: str | None, mail_from: str) -> str:
    """``<outbox.42.0@example.com>`` for the worker's key ``outbox:42:0``: one id per outbox message part."""
    domain = email.utils.parseaddr(mail_from)[1].rpartition("@")[2] or "ccm.invalid"
    return f"<{key.replace(':', '.')}@{domain}>" if key else email.utils.make_msgid(domain=domain)


def refusal(code: int, message: str | bytes) -> str:
    """The relay's reason as kept and logged: its code and words, any address in them masked."""
    words = message.decode(errors="replace") if isinstance(message, bytes) else message
    return f"{code} {mask_personal_data(' '.join(words.split()))}"


class EmailSender:
    """Sends outbox messages as mail through the configured SMTP relay."""

    channel = CHANNEL
    idempotent = False  # a relay cannot be asked whether it already took a mail

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings: ChannelSettings = ctx.settings

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        link = views.get_notice(self.ctx.core.unit_of_work(), READER, notice.outbox_id).payload.get("link")
        text = "\n\n".join(reply.text for reply in replies if reply.text) or notice.body
        if link and link not in text:
            text += "\n\n" + translate(notice.language, "email.survey_link", link=link)
        if link and self.settings.mail_intake_on:
            text += "\n" + translate(notice.language, "email.survey_reply")
        subject = "email.subject_survey" if link else "email.subject"
        # The customer's own mails on the case, so their mail program shows our answer in their thread.
        thread = mail_intake.mail_thread(self.ctx.core.unit_of_work(), notice.reference)[-MAX_REFERENCES:]
        return [
            {
                "subject": translate(notice.language, subject, reference=notice.reference),
                "text": text,
                "language": notice.language,
                "thread": thread,
            }
        ]

    def compose(self, address: str, part: dict[str, Any], key: str | None) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.mail_from
        mail["To"] = address
        mail["Subject"] = part["subject"]
        mail["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
        mail["Message-ID"] = message_id(key, self.settings.mail_from)
        if thread := part.get("thread"):
            mail["In-Reply-To"] = thread[-1]
            mail["References"] = " ".join(thread)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies are not sent back
        mail.set_content(part["text"], charset="utf-8")
        mail["Content-Language"] = part["language"]  # after set_content, which replaces Content-* headers
        return mail

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        mail = self.compose(address, part, key)
        settings = self.settings
        try:
            await aiosmtplib.send(
                mail,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_user or None,
                password=settings.smtp_password or None,
                start_tls=settings.smtp_starttls,
                timeout=TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            reasons = [refusal(r.code, r.message) for r in refused.recipients]
            permanent = all(r.code >= PERMANENT for r in refused.recipients)
            raise DeliveryFailed(f"recipient refused: {'; '.join(reasons)}", permanent=permanent) from None
        except aiosmtplib.SMTPDataError as refused:  # the relay took the recipient, not the mail
            reason = f"mail refused: {refusal(refused.code, refused.message)}"
            raise DeliveryFailed(reason, permanent=refused.code >= PERMANENT) from None
        except aiosmtplib.SMTPResponseException as problem:  # sign-in, sender, greeting: our setup
            raise DeliveryFailed(f"SMTP relay: {refusal(problem.code, problem.message)}") from None
        except (aiosmtplib.SMTPException, OSError) as down:  # not reachable, timed out, no STARTTLS
            raise DeliveryFailed(f"SMTP relay unreachable: {type(down).__name__}") from None


def sender(ctx: ChannelContext) -> EmailSender:
    return EmailSender(ctx)
