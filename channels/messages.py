"""What the assistant says, as every channel renders it: a text with optional buttons.

Rasa's REST channel answers with ``{"text": ..., "buttons": [{"title", "payload"}]}``;
a channel turns each ``Reply`` into its own wire format (Telegram inline keyboard,
WhatsApp reply buttons or list, socket.io quick replies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        buttons = tuple(Button(str(b["title"]), str(b["payload"])) for b in data.get("buttons") or ())
        return cls(str(data.get("text") or ""), buttons)


def replies_from_rasa(messages: list[dict[str, Any]]) -> list[Reply]:
    """Rasa's messages as replies; buttons sent without a text join the text before them."""
    replies: list[Reply] = []
    for message in messages:
        reply = Reply.from_json(message)
        if not reply.text and reply.buttons and replies:
            previous = replies.pop()
            reply = Reply(previous.text, previous.buttons + reply.buttons)
        if reply.text or reply.buttons:
            replies.append(reply)
    return replies


def conversation_id(channel: str, address: str) -> str:
    """Rasa's sender id for a customer: the channel and the platform's address (chat id, number, session)."""
    return f"{channel}:{address}"


def split_conversation_id(value: str) -> tuple[str, str]:
    """``("telegram", "12345")`` from ``"telegram:12345"``."""
    channel, _, address = value.partition(":")
    if not address:
        raise ValueError(f"not a channel conversation id: {value!r}")
    return channel, address
