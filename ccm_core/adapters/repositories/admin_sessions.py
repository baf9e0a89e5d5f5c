"""Signed-in admin console sessions, kept by the hash of their token."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ccm_core.adapters.tables import AdminSession


class AdminSessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, admin_session: AdminSession) -> None:
        self.session.add(admin_session)

    def get(self, token_hash: str) -> AdminSession | None:
        return self.session.get(AdminSession, token_hash)

    def drop(self, token_hash: str) -> None:
        self.session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash))

    def drop_expired(self, now: dt.datetime) -> None:
        self.session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
