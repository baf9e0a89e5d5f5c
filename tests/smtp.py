"""A real SMTP server on loopback (aiosmtpd) standing in for the outside mail relay.

It stores what it takes and can refuse a recipient, or take a mail and hold back its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Relay:
    """What the mail relay took, and how it behaves: recipients it refuses, a reply it holds back."""

    received: list[EmailMessage] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    hold_reply: threading.Event | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.received.append(mail)
        while self.hold_reply is not None and not self.hold_reply.is_set():
            await asyncio.sleep(0.02)
        return "250 2.0.0 queued"


@contextlib.contextmanager
def relay_on(port: int, relay: Relay) -> Iterator[Relay]:
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()
