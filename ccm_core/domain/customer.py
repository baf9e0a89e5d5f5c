"""The customer behind a complaint, and where they can be reached."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base
from ccm_core.domain.lifecycle import CHAT_CHANNELS


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    erased_at: Mapped[dt.datetime | None]

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )

    def identity(self, channel: str) -> str | None:
        return next((i.external_id for i in self.identities if i.channel == channel), None)

    def address_for(self, channel: str) -> tuple[str, str | None]:
        """Where a message for a case taken on ``channel`` goes: (channel, recipient)."""
        if channel in CHAT_CHANNELS and (chat_id := self.identity(channel)):
            return channel, chat_id
        if self.email:
            return "email", self.email
        if self.phone:
            return "phone", self.phone
        return channel, self.identity(channel)

    def erase(self, now: dt.datetime) -> None:
        self.name = self.email = self.phone = None
        self.identities.clear()
        self.erased_at = now


class CustomerIdentity(Base):
    """A customer's identity on a chat channel (Telegram chat id, WhatsApp number, web session)."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))

    customer: Mapped[Customer] = relationship(back_populates="identities")
