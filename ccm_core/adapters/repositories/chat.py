"""What chat channels keep: when a customer last wrote, and web chat messages not yet shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.tables import ChatContact, ChatMessage


class ChatRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ChatContact | ChatMessage) -> None:
        self.session.add(row)

    def contact(self, conversation_id: str) -> ChatContact | None:
        return self.session.get(ChatContact, conversation_id)

    def last_inbound(self, conversation_ids: Collection[str]) -> dict[str, dt.datetime]:
        """When each of these conversations' customers last wrote, for those who ever did."""
        rows = self.session.execute(
            select(ChatContact.conversation_id, ChatContact.last_inbound_at).where(
                ChatContact.conversation_id.in_(conversation_ids)
            )
        )
        return {conversation_id: last for conversation_id, last in rows}

    def unshown(self, conversation_id: str) -> Sequence[ChatMessage]:
        """The conversation's messages its page has not shown yet, oldest first."""
        return self.session.scalars(
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id, ChatMessage.shown_at.is_(None))
            .order_by(ChatMessage.id)
        ).all()

    def take_unshown(
        self, conversation_id: str, now: dt.datetime
    ) -> list[tuple[int, dict[str, Any], dt.datetime]]:
        """Marks the conversation's unshown messages shown and returns them, oldest first.

        One conditional UPDATE: of two replicas taking at once, each message goes to one of them.
        """
        rows = self.session.execute(
            update(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id, ChatMessage.shown_at.is_(None))
            .values(shown_at=now)
            .returning(ChatMessage.id, ChatMessage.content, ChatMessage.created_at)
            .execution_options(synchronize_session=False)
        ).all()
        return sorted((row.id, row.content, row.created_at) for row in rows)

    def with_unshown(self, conversation_ids: Collection[str]) -> list[str]:
        """Of these conversations, the ones with messages waiting."""
        return list(
            self.session.scalars(
                select(ChatMessage.conversation_id)
                .where(ChatMessage.conversation_id.in_(conversation_ids), ChatMessage.shown_at.is_(None))
                .distinct()
            )
        )

    def forget(self, conversation_ids: Collection[str]) -> None:
        """Erasure: the conversations' stored web chat messages and last contacts go."""
        ids = list(conversation_ids)
        self.session.execute(delete(ChatMessage).where(ChatMessage.conversation_id.in_(ids)))
        self.session.execute(delete(ChatContact).where(ChatContact.conversation_id.in_(ids)))
