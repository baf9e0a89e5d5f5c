"""Who may do what: roles, departments and the customer's own cases.

The rules live here, not in the adapters, so the HTTP API, Slack and the chat
actions refuse the same things for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ccm_core.domain.errors import PermissionDenied
from ccm_core.domain.lifecycle import Command, Role


class _Named(Protocol):
    @property
    def names(self) -> dict[str, Any]: ...


class Case(Protocol):
    """What the rules read of a complaint (the aggregate satisfies it; no import of it needed)."""

    @property
    def reference(self) -> str: ...

    @property
    def department_id(self) -> int: ...

    @property
    def department(self) -> _Named: ...

    def belongs_to(self, channel: str | None, external_id: str | None) -> bool: ...


# Use cases that are not lifecycle commands but still need a permission.
RECORD = "record"
VIEW = "view"
ERASE_CUSTOMER_DATA = "erase_customer_data"
EXPORT_CUSTOMER_DATA = (
    "export_customer_data"  # the customer's copy of what we hold (KVKK Art. 11, GDPR Art. 15)
)
TEACH_ASSISTANT = "teach_assistant"  # review what the assistant missed, retrain and deploy it

_AGENT = {
    RECORD,
    VIEW,
    Command.START_REVIEW,
    Command.DECIDE_JUSTIFIED,
    Command.DECIDE_UNJUSTIFIED,
    Command.ADD_ACTION,
    Command.COMPLETE_ACTION,
    Command.INFORM_CUSTOMER,
    Command.SEND_SURVEY,
    Command.ANSWER_SATISFIED,
    Command.ANSWER_DISSATISFIED,
    Command.START_FOLLOW_UP,
    Command.WITHDRAW,
    Command.ADD_CUSTOMER_MESSAGE,
    Command.REQUEST_HUMAN,
    Command.TAKE,
    Command.REPLY_TO_CUSTOMER,
    Command.HAND_BACK,
}
_LEAD = _AGENT | {Command.CLOSE, Command.REASSIGN, Command.EXPIRE_SURVEY, EXPORT_CUSTOMER_DATA}
_ADMIN = _LEAD | {ERASE_CUSTOMER_DATA, TEACH_ASSISTANT}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.AGENT: frozenset(_AGENT),
    Role.LEAD: frozenset(_LEAD),
    Role.ADMIN: frozenset(_ADMIN),
}
CUSTOMER_PERMISSIONS = frozenset(
    {
        RECORD,
        VIEW,
        Command.ADD_CUSTOMER_MESSAGE,
        Command.REQUEST_HUMAN,
        Command.WITHDRAW,
        Command.ANSWER_SATISFIED,
        Command.ANSWER_DISSATISFIED,
    }
)
# A signed survey link is the credential of a customer who left the chat: it answers its own case's
# survey, and does nothing else.
SURVEY_LINK = "survey_link"
SURVEY_LINK_PERMISSIONS = frozenset({Command.ANSWER_SATISFIED, Command.ANSWER_DISSATISFIED})


@dataclass(frozen=True)
class Actor:
    """Whoever asks for a change: a staff member, a customer in a conversation, or the system."""

    kind: Literal["staff", "customer", "system"]
    label: str
    role: Role | None = None
    staff_id: int | None = None
    department_id: int | None = None
    channel: str | None = None
    external_id: str | None = None

    @classmethod
    def staff(cls, *, email: str, role: Role | str, staff_id: int | None, department_id: int | None) -> Actor:
        return cls("staff", f"staff:{email}", Role(role), staff_id, department_id)

    @classmethod
    def service_token(cls, *, name: str, role: Role | str) -> Actor:
        """A token not tied to a person (an admin integration, say)."""
        return cls("staff", f"token:{name}", Role(role))

    @classmethod
    def customer(cls, *, channel: str, external_id: str) -> Actor:
        # The audit names the channel only: the identity itself is personal data.
        return cls("customer", f"customer:{channel}", channel=channel, external_id=external_id)

    @classmethod
    def survey_link(cls, reference: str) -> Actor:
        """The holder of a genuine survey link for ``reference`` (the signature was checked before)."""
        return cls("customer", f"customer:{SURVEY_LINK}", channel=SURVEY_LINK, external_id=reference)

    @classmethod
    def system(cls, name: str = "ccm") -> Actor:
        return cls("system", f"system:{name}")

    @property
    def department_wide(self) -> bool:
        return self.kind == "system" or self.role == Role.ADMIN


def ensure_allowed(actor: Actor, use_case: str, complaint: Case | None = None) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may run ``use_case`` (on ``complaint``)."""
    if actor.kind == "system":
        return
    if actor.kind == "customer":
        permitted = SURVEY_LINK_PERMISSIONS if actor.channel == SURVEY_LINK else CUSTOMER_PERMISSIONS
        if use_case not in permitted:
            raise PermissionDenied(why="role", role="customer", command=str(use_case))
        if complaint is not None and not _customers_case(actor, complaint):
            raise PermissionDenied(why="not_customers_case", reference=complaint.reference)
        return
    assert actor.role is not None
    if use_case not in ROLE_PERMISSIONS[actor.role]:
        raise PermissionDenied(why="role", role=str(actor.role), command=str(use_case))
    if (
        complaint is not None
        and use_case != RECORD
        and not actor.department_wide
        and complaint.department_id != actor.department_id
    ):
        raise PermissionDenied(
            why="other_department", reference=complaint.reference, department=dict(complaint.department.names)
        )


def _customers_case(actor: Actor, complaint: Case) -> bool:
    """A survey link names its one case; a conversation owns the cases taken in it."""
    if actor.channel == SURVEY_LINK:
        return complaint.reference == actor.external_id
    return complaint.belongs_to(actor.channel, actor.external_id)
