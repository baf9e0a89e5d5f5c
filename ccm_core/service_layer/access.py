"""Who is asking: bearer tokens, staff and customers as actors of the use cases."""

from __future__ import annotations

import hashlib
import secrets

from ccm_core.domain import validation
from ccm_core.domain.errors import NotFound, ValidationFailed
from ccm_core.domain.lifecycle import CHAT_CHANNELS, Channel, Role
from ccm_core.domain.organisation import ApiToken, Staff
from ccm_core.domain.policy import Actor
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer.unit_of_work import UnitOfWork


def active_staff(uow: UnitOfWork, email: str) -> Staff:
    staff = uow.organisation.staff_by_email(email.strip())
    if staff is None or not staff.active:
        raise NotFound(kind="staff", key=email)
    return staff


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(
    uow: UnitOfWork, *, role: str, staff_email: str | None = None, name: str | None = None
) -> str:
    """A new bearer token; only its hash is stored, so this is the one time it is shown."""
    token_role = validation.choice("role", role, Role)
    with uow:
        staff = active_staff(uow, staff_email) if staff_email else None
        if staff is None and token_role != Role.ADMIN:
            raise ValidationFailed(field="staff", problem="needs_staff", role=str(token_role))
        token = "ccm_" + secrets.token_urlsafe(32)
        now = uow.now()
        label = name or (staff.email if staff else f"{token_role}-token")
        uow.organisation.add(
            ApiToken(token_hash=hash_token(token), name=label, role=token_role, staff=staff, created_at=now)
        )
        uow.audit.add(
            AuditEvent(
                actor="system:cli",
                action="create_api_token",
                at=now,
                details={"role": str(token_role), "staff": staff.email if staff else None, "name": label},
            )
        )
        uow.commit()
        return token


def authenticate(uow: UnitOfWork, token: str) -> Actor | None:
    """The actor a bearer token stands for, or None for an unknown or revoked token."""
    with uow:
        row = uow.organisation.token_by_hash(hash_token(token))
        if row is None:
            return None
        if row.staff is not None:
            if not row.staff.active:
                return None
            return Actor.staff(
                email=row.staff.email,
                role=row.role,
                staff_id=row.staff.id,
                department_id=row.staff.department_id,
            )
        return Actor.service_token(name=row.name, role=row.role)


def staff_actor(uow: UnitOfWork, *, email: str | None = None, slack_user_id: str | None = None) -> Actor:
    """The actor for a known staff member, found by e-mail or Slack user id."""
    with uow:
        staff = uow.organisation.staff_by_slack_id(slack_user_id) if slack_user_id else None
        if staff is None and email:
            staff = uow.organisation.staff_by_email(email)
        if staff is None or not staff.active:
            raise NotFound(kind="staff", key=slack_user_id or email or "-")
        return staff.as_actor()


def customer_actor(channel: str, external_id: str) -> Actor:
    """The actor for a customer writing from a chat channel."""
    chat_channel = validation.choice("channel", channel, Channel)
    if chat_channel not in CHAT_CHANNELS:
        raise ValidationFailed(
            field="channel", problem="unknown_choice", value=channel, choices=", ".join(sorted(CHAT_CHANNELS))
        )
    return Actor.customer(channel=chat_channel, external_id=external_id)
