"""Admins signing in to the console: passwords kept as scrypt hashes, sessions as hashes of their tokens.

Sessions live in the database, so every replica of the web server knows them and a restart
signs nobody out. A failed sign-in says only that the e-mail or password is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from ccm_core.adapters.tables import AdminSession
from ccm_core.domain.errors import CCMError, ValidationFailed
from ccm_core.domain.lifecycle import Role
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer.access import active_staff, hash_token
from ccm_core.service_layer.unit_of_work import UnitOfWork

SESSION_HOURS = 8
MIN_PASSWORD_LENGTH = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class SignInFailed(CCMError):
    code = "sign_in_failed"
    http_status = 401


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        hash_password(password)  # spend the same time when there is no password to compare with
        return False
    _, salt, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


def set_password(uow: UnitOfWork, email: str, password: str) -> None:
    """Give a staff member a console password (operators run ``ccm admin password EMAIL``)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(field="password", problem="too_short", min=MIN_PASSWORD_LENGTH)
    with uow:
        staff = active_staff(uow, email)
        staff.password_hash = hash_password(password)
        uow.audit.add(
            AuditEvent(actor="system:cli", action="set_password", at=uow.now(), details={"staff": email})
        )
        uow.commit()


def sign_in(uow: UnitOfWork, email: str, password: str) -> str:
    """A new session token for an active admin whose password matches; ``SignInFailed`` otherwise."""
    with uow:
        staff = uow.organisation.staff_by_email((email or "").strip())
        stored = staff.password_hash if staff else None
        if not password_matches(password or "", stored) or staff is None or not staff.active:
            raise SignInFailed()
        if staff.role != Role.ADMIN:
            raise SignInFailed()
        now = uow.now()
        token = secrets.token_urlsafe(32)
        uow.admin_sessions.drop_expired(now)
        uow.admin_sessions.add(
            AdminSession(
                token_hash=hash_token(token),
                staff_id=staff.id,
                created_at=now,
                expires_at=now + dt.timedelta(hours=SESSION_HOURS),
            )
        )
        uow.audit.add(AuditEvent(actor=f"staff:{staff.email}", action="sign_in", at=now, details={}))
        uow.commit()
        return token


def session_actor(uow: UnitOfWork, token: str | None) -> Actor | None:
    """The admin a session token stands for, while it lasts and they are still an active admin."""
    if not token:
        return None
    with uow:
        session = uow.admin_sessions.get(hash_token(token))
        if session is None or session.expires_at < uow.now():
            return None
        staff = session.staff
        if not staff.active or staff.role != Role.ADMIN:
            return None
        return staff.as_actor()


def sign_out(uow: UnitOfWork, token: str | None) -> None:
    if not token:
        return
    with uow:
        uow.admin_sessions.drop(hash_token(token))
        uow.commit()
