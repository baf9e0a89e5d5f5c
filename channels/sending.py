"""The contract between the delivery worker (and webhooks) and a channel that sends to customers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from channels.messages import Reply


@dataclass(frozen=True)
class Notice:
    """An outbox message on its way: what the process owes the customer, and the assistant's words for it."""

    outbox_id: int
    kind: str  # acknowledgement, interim_notice, unjustified_explanation, action_summary, survey, ...
    language: str
    reference: str
    body: str
    conversation_id: str
    last_customer_contact: dt.datetime | None  # when the customer last wrote (WhatsApp's 24-hour window)


class DeliveryFailed(Exception):
    """A send did not happen. ``permanent`` ones are recorded as failed with the reason; others retried."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    """One customer channel's outbound side."""

    channel: str
    # True when sending the same part twice with the same key shows it once (the web chat's store);
    # the worker may then repeat a send a crash interrupted. Platforms without that stay False.
    idempotent: bool

    def prepare(self, notice: Notice, replies: list[Reply], now: dt.datetime) -> list[dict[str, Any]]:
        """The parts to send for a notice (JSON, stored before sending); DeliveryFailed if none can go."""
        ...

    async def send(self, address: str, part: dict[str, Any], *, key: str | None = None) -> None:
        """Send one part (a ``Reply.as_json()`` or a channel-specific part such as a template)."""
        ...
