"""The HTTP API's request bodies: types only; the service layer checks lengths and choices."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, StrictInt
from pydantic_core import PydanticCustomError

from ccm_core.domain import validation


def _storable(value: str) -> str:
    """Refuse text no database column can hold, so it is a 422 here rather than a 500 at the database."""
    if not validation.storable(value):
        raise PydanticCustomError("invalid_characters", "NUL characters or broken Unicode are not accepted")
    return value


Text = Annotated[str, AfterValidator(_storable)]


class CustomerIn(BaseModel):
    name: Text | None = None
    email: Text | None = None
    phone: Text | None = None


class ComplaintIn(BaseModel):
    channel: Text
    language: Text
    category: Text
    description: Text
    priority: Text | None = None
    external_reference: Text | None = None
    idempotency_key: Text | None = None
    customer: CustomerIn | None = None


class DecisionIn(BaseModel):
    justified: bool
    reason: Text
    customer_explanation: Text | None = None


class ActionIn(BaseModel):
    kind: Text
    description: Text
    owner_email: Text | None = None
    due_date: dt.date | None = None


class OutcomeIn(BaseModel):
    outcome: Text


class SummaryIn(BaseModel):
    summary: Text


class SurveyAnswerIn(BaseModel):
    score: StrictInt
    comment: Text | None = None
    nps: StrictInt | None = None  # 0–10, when the customer was asked how likely they are to recommend us


class MessageIn(BaseModel):
    body: Text


class ReassignIn(BaseModel):
    department: Text
