"""What chat channels keep in the core: when a customer last wrote, and web chat messages not yet shown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from ccm_core.adapters.tables import ChatContact, ChatMessage
from ccm_core.service_layer.unit_of_work import UnitOfWork


def note_customer_contact(uow: UnitOfWork, channel: str, conversation_id: str) -> None:
    """The customer wrote just now (opens WhatsApp's 24-hour window for free-form messages)."""
    with uow:
        now = uow.now()
        contact = uow.chat.contact(conversation_id)
        if contact is None:
            uow.chat.add(ChatContact(conversation_id=conversation_id, channel=channel, last_inbound_at=now))
        else:
            contact.last_inbound_at = max(contact.last_inbound_at, now)
        try:
            uow.commit()
        except IntegrityError:  # another replica recorded the same conversation's first message
            uow.rollback()


def last_customer_contact(uow: UnitOfWork, conversation_id: str) -> dt.datetime | None:
    with uow:
        contact = uow.chat.contact(conversation_id)
        return contact.last_inbound_at if contact else None


@dataclass(frozen=True)
class ChatLine:
    id: int
    content: dict[str, Any]
    created_at: dt.datetime


def store_chat_message(
    uow: UnitOfWork, conversation_id: str, delivery_key: str, content: dict[str, Any]
) -> bool:
    """Keep a message for a web chat; a repeated ``delivery_key`` is stored once (False the second time)."""
    with uow:
        uow.chat.add(
            ChatMessage(
                conversation_id=conversation_id,
                delivery_key=delivery_key,
                content=content,
                created_at=uow.now(),
            )
        )
        try:
            uow.commit()
            return True
        except IntegrityError:
            uow.rollback()
            return False


def unshown_chat_messages(uow: UnitOfWork, conversation_id: str) -> list[ChatLine]:
    """Messages the customer's page has not shown yet, oldest first."""
    with uow:
        rows = uow.chat.unshown(conversation_id)
        return [ChatLine(row.id, row.content, row.created_at) for row in rows]


def take_chat_messages_to_show(uow: UnitOfWork, conversation_id: str) -> list[ChatLine]:
    """The messages waiting for the customer's page, marked shown as they are taken.

    Taking and marking are one step, so a message waiting while the customer has tabs on two
    replicas is shown by one replica only.
    """
    with uow:
        lines = [ChatLine(*row) for row in uow.chat.take_unshown(conversation_id, uow.now())]
        uow.commit()
        return lines


def conversations_with_unshown(uow: UnitOfWork, conversation_ids: list[str]) -> list[str]:
    """Of these (connected) conversations, the ones with messages waiting."""
    if not conversation_ids:
        return []
    with uow:
        return uow.chat.with_unshown(conversation_ids)


def handed_over_case(uow: UnitOfWork, channel: str, address: str) -> str | None:
    """The open case whose conversation (``channel``, ``address``) staff have taken over, if any.

    While a person has the conversation, the customer's words go to them, not to the assistant.
    """
    with uow:
        return uow.complaints.handed_over(channel, address)
