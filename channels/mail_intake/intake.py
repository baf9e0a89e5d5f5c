"""The worker's e-mail intake: each folder read is watched (IDLE, else polled), each mail taken in once.

For every mail in a folder: lease it in the database (``claim_mail``: several workers may read the
same folder), read it without marking it read, decide in one transaction what it became, then move
it out of the folder to the one its outcome names. A crash before the decision leaves the mail in
the folder to be taken again when the lease runs out; a crash after it leaves only the move, which
the next pass does without deciding again. The mail's words are never logged: a line names the
folder, the UID, the outcome and the case's reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import logging

from sqlalchemy.exc import SQLAlchemyError

from ccm_core.domain.errors import CCMError
from ccm_core.domain.inbound_mail import MailOutcome
from ccm_core.domain.privacy import mask_personal_data
from ccm_core.service_layer import mail_intake
from ccm_core.service_layer.mail_intake import IncomingMail, MailClaim, MailFile
from channels.context import ChannelContext
from channels.inbound import AssistantUnreachable
from channels.mail_intake.mailbox import Mailbox, MailboxUnavailable
from channels.mail_intake.parse import ParsedMail, Unparseable, parse_mail

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0  # one IDLE at a time, so a worker told to stop stops within seconds
LEASE_SECONDS = 300
TOPIC_ATTEMPTS = 3  # the assistant down this often: the mail is filed under "other" for staff to sort
RECONNECT_MAX_SECONDS = 300.0


class MailIntake:
    def __init__(self, ctx: ChannelContext, worker_id: str) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.worker_id = worker_id
        own = [email.utils.parseaddr(self.settings.mail_from)[1], self.settings.imap_user]
        self.own_addresses = {address.strip().lower() for address in own if "@" in address}

    async def run_forever(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.watch(folder, stop) for folder in self.settings.imap_folders))

    async def watch(self, folder: str, stop: asyncio.Event) -> None:
        """Take in what is waiting, then wait for more; a lost connection is made again, with back-off."""
        failures = 0
        while not stop.is_set():
            mailbox = Mailbox(self.settings, folder)
            try:
                await asyncio.to_thread(mailbox.connect)
                log.info(
                    "mail intake %s reading folder %s (IDLE: %s)",
                    self.worker_id,
                    folder,
                    mailbox.idle_supported,
                )
                failures = 0
                while not stop.is_set():
                    await self.take_in_waiting(mailbox, folder, stop)
                    if mailbox.idle_supported:
                        await asyncio.to_thread(mailbox.wait, IDLE_SECONDS)
                    else:
                        await _sleep(stop, self.settings.imap_wait_seconds)
            except MailboxUnavailable as down:
                failures += 1
                delay = min(RECONNECT_MAX_SECONDS, 2.0**failures)
                log.warning("mail intake: folder %s unavailable (%s); again in %.0f s", folder, down, delay)
                await _sleep(stop, delay)
            finally:
                await asyncio.to_thread(mailbox.close)

    async def take_in_waiting(self, mailbox: Mailbox, folder: str, stop: asyncio.Event) -> int:
        taken = 0
        for uid in await asyncio.to_thread(mailbox.waiting):
            if stop.is_set():
                break
            taken += await self.take_in(mailbox, folder, uid)
        return taken

    async def take_in(self, mailbox: Mailbox, folder: str, uid: int) -> int:
        """One mail, from its lease to its move out of the folder; 1 when this worker handled it."""
        claim = await asyncio.to_thread(
            mail_intake.claim_mail,
            self.ctx.core.unit_of_work(),
            self.worker_id,
            folder=folder,
            uidvalidity=mailbox.uidvalidity,
            uid=uid,
            lease_seconds=LEASE_SECONDS,
        )
        if claim is None:
            return 0  # another worker has it
        raw = await asyncio.to_thread(mailbox.fetch, uid)
        if raw is None:
            return 0  # moved out by another worker meanwhile
        if claim.outcome is not None:  # decided before a crash or a lost connection: only the move is left
            await self.put_away(mailbox, uid, raw, claim, claim.outcome, claim.reason)
            return 1
        try:
            parsed = parse_mail(raw)
        except Unparseable as unreadable:
            return await self.set_aside(mailbox, uid, raw, claim, MailOutcome.UNREADABLE, str(unreadable))
        automatic = parsed.automatic or ("sent from the product's own address" if self.own(parsed) else None)
        if automatic:
            return await self.set_aside(mailbox, uid, raw, claim, MailOutcome.AUTOMATIC, automatic)
        mail = incoming(parsed)
        category = await self.topic(mail, claim)
        if category is False:
            return 0
        try:
            result = await asyncio.to_thread(
                mail_intake.take_in_mail,
                self.ctx.core.unit_of_work(),
                claim,
                mail,
                category=category or None,
                sender_limit=self.settings.imap_sender_limit,
                max_file_bytes=self.settings.mail_attachment_max_bytes,
            )
        except CCMError as refused:  # the mail is readable but cannot be a case (an invalid address, say)
            return await self.set_aside(mailbox, uid, raw, claim, MailOutcome.UNREADABLE, str(refused))
        except SQLAlchemyError as failed:
            await self.release(claim, f"database: {type(failed).__name__}")
            return 0
        log.info("mail %s/%s: %s %s", folder, uid, result.outcome, result.reference or "")
        await self.put_away(mailbox, uid, raw, claim, result.outcome, result.reason)
        return 1

    async def topic(self, mail: IncomingMail, claim: MailClaim) -> str | bool:
        """The assistant's reading of a new complaint's topic; "" when the mail joins a case or it cannot
        tell; False when the assistant is down and the mail waits for it."""
        if await asyncio.to_thread(mail_intake.mail_case, self.ctx.core.unit_of_work(), mail):
            return ""
        try:
            return await self.ctx.rasa.topic(f"{mail.subject}\n{mail.text}") or ""
        except AssistantUnreachable as down:
            if claim.attempts >= TOPIC_ATTEMPTS:
                log.warning(
                    "mail intake: the assistant is down (%s); filing the mail for staff to sort", down
                )
                return ""
            await self.release(claim, f"assistant: {down}")
            return False

    async def set_aside(
        self, mailbox: Mailbox, uid: int, raw: bytes, claim: MailClaim, outcome: MailOutcome, reason: str
    ) -> int:
        await asyncio.to_thread(
            mail_intake.set_mail_aside, self.ctx.core.unit_of_work(), claim, outcome, reason
        )
        log.info("mail %s: %s (%s)", uid, outcome, mask_personal_data(reason))
        await self.put_away(mailbox, uid, raw, claim, outcome, reason)
        return 1

    async def put_away(
        self,
        mailbox: Mailbox,
        uid: int,
        raw: bytes,
        claim: MailClaim,
        outcome: MailOutcome,
        reason: str | None,
    ) -> None:
        """Out of the folder read: to the one for staff (with the reason), for machines, or for done mail."""
        settings = self.settings
        if outcome == MailOutcome.UNREADABLE:
            await asyncio.to_thread(mailbox.set_aside, uid, settings.imap_failed_folder, raw, reason or "")
        elif outcome == MailOutcome.HELD:
            await asyncio.to_thread(mailbox.set_aside, uid, settings.imap_held_folder, raw, reason or "")
        elif outcome == MailOutcome.AUTOMATIC:
            await asyncio.to_thread(mailbox.move, uid, settings.imap_automatic_folder)
        else:
            await asyncio.to_thread(mailbox.move, uid, settings.imap_done_folder)
        await asyncio.to_thread(mail_intake.mail_moved, self.ctx.core.unit_of_work(), claim)

    async def release(self, claim: MailClaim, why: str) -> None:
        retry_in = self.settings.retry_at(claim.attempts) - dt.datetime.now(dt.UTC)
        log.warning("mail intake: a mail waits %.0f s (%s)", retry_in.total_seconds(), why)
        await asyncio.to_thread(
            mail_intake.release_mail, self.ctx.core.unit_of_work(), claim, retry_in=retry_in
        )

    def own(self, parsed: ParsedMail) -> bool:
        """A mail from the product's own address: answering it could start a loop."""
        return parsed.sender in self.own_addresses


def incoming(parsed: ParsedMail) -> IncomingMail:
    return IncomingMail(
        message_id=parsed.message_id,
        thread=(*parsed.in_reply_to, *reversed(parsed.references)),
        sender=parsed.sender,
        sender_name=parsed.sender_name,
        subject=parsed.subject,
        text=parsed.text,
        content_language=parsed.content_language,
        files=tuple(MailFile(file.name, file.content_type, file.content) for file in parsed.attachments),
    )


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
