"""Teaching the assistant: the messages it missed, the intents admins created, its models and retrains."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ccm_core.adapters.db import rows_changed
from ccm_core.adapters.tables import (
    AssistantModel,
    JobStatus,
    LearnedIntent,
    ModelStatus,
    RetrainRequest,
    ReviewStatus,
    UnrecognisedMessage,
)


class TeachingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: UnrecognisedMessage | LearnedIntent | AssistantModel | RetrainRequest) -> None:
        self.session.add(row)

    # -- what the assistant missed --

    def open_messages(self, language: str | None = None) -> Sequence[UnrecognisedMessage]:
        """The messages waiting for review (in ``language``, when given), oldest first."""
        query = select(UnrecognisedMessage).where(UnrecognisedMessage.status == ReviewStatus.OPEN)
        if language:
            query = query.where(UnrecognisedMessage.language == language)
        return self.session.scalars(query.order_by(UnrecognisedMessage.id)).all()

    def forget_conversations(self, conversation_ids: Collection[str]) -> None:
        """Erasure: what these conversations sent that the assistant missed leaves the review queue."""
        self.session.execute(
            delete(UnrecognisedMessage).where(UnrecognisedMessage.conversation_id.in_(list(conversation_ids)))
        )

    def messages(self, ids: Collection[int]) -> Sequence[UnrecognisedMessage]:
        return self.session.scalars(
            select(UnrecognisedMessage).where(UnrecognisedMessage.id.in_(list(ids)))
        ).all()

    def assigned_unwritten(self, intent: str) -> Sequence[UnrecognisedMessage]:
        """Examples of ``intent`` no retrain has written into the training data yet."""
        return self.session.scalars(
            select(UnrecognisedMessage).where(
                UnrecognisedMessage.status == ReviewStatus.ASSIGNED,
                UnrecognisedMessage.assigned_intent == intent,
                UnrecognisedMessage.written_at.is_(None),
            )
        ).all()

    def to_write(self) -> Sequence[UnrecognisedMessage]:
        """Every assigned example not yet written into the training data, oldest first."""
        return self.session.scalars(
            select(UnrecognisedMessage)
            .where(
                UnrecognisedMessage.status == ReviewStatus.ASSIGNED, UnrecognisedMessage.written_at.is_(None)
            )
            .order_by(UnrecognisedMessage.id)
        ).all()

    def mark_written(self, ids: Collection[int], now: dt.datetime) -> None:
        self.session.execute(
            update(UnrecognisedMessage).where(UnrecognisedMessage.id.in_(list(ids))).values(written_at=now)
        )

    # -- learned intents --

    def has_learned_intent(self, name: str) -> bool:
        return self.session.scalar(select(LearnedIntent.id).where(LearnedIntent.name == name)) is not None

    def learned_intents(self) -> Sequence[LearnedIntent]:
        return self.session.scalars(select(LearnedIntent).order_by(LearnedIntent.name)).all()

    # -- models --

    def model(self, model_id: int) -> AssistantModel | None:
        return self.session.get(AssistantModel, model_id)

    def models(self) -> Sequence[AssistantModel]:
        """Every model trained here, the newest first."""
        return self.session.scalars(select(AssistantModel).order_by(AssistantModel.id.desc())).all()

    def retire_deployed(self) -> None:
        """The model in service retires: another one is about to be deployed."""
        self.session.execute(
            update(AssistantModel)
            .where(AssistantModel.status == ModelStatus.DEPLOYED)
            .values(status=ModelStatus.RETIRED)
        )

    # -- retrain requests --

    def retrain(self, request_id: int) -> RetrainRequest | None:
        return self.session.get(RetrainRequest, request_id)

    def retrains(self, limit: int) -> Sequence[RetrainRequest]:
        """The latest requests, the newest first."""
        return self.session.scalars(
            select(RetrainRequest).order_by(RetrainRequest.id.desc()).limit(limit)
        ).all()

    def waiting_retrain(self) -> RetrainRequest | None:
        """A request queued or running now, if any."""
        return self.session.scalars(
            select(RetrainRequest).where(RetrainRequest.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        ).first()

    def claim_retrain(self, worker: str, *, now: dt.datetime, lease_seconds: int) -> RetrainRequest | None:
        """Lease the oldest queued request (or one whose worker's lease ran out) to ``worker``.

        The conditional UPDATE lets one of two workers have it; the caller commits the claim.
        """
        candidates = self.session.scalars(
            select(RetrainRequest.id)
            .where(
                (RetrainRequest.status == JobStatus.QUEUED)
                | ((RetrainRequest.status == JobStatus.RUNNING) & (RetrainRequest.lease_until < now))
            )
            .order_by(RetrainRequest.id)
            .limit(1)
        ).all()
        for request_id in candidates:
            taken = self.session.execute(
                update(RetrainRequest)
                .where(
                    RetrainRequest.id == request_id,
                    (RetrainRequest.status == JobStatus.QUEUED) | (RetrainRequest.lease_until < now),
                )
                .values(
                    status=JobStatus.RUNNING,
                    claimed_by=worker[:64],
                    lease_until=now + dt.timedelta(seconds=lease_seconds),
                )
            )
            if rows_changed(taken) == 1:
                return self.session.get_one(RetrainRequest, request_id)
        return None
