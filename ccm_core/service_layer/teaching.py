"""Teaching the assistant: admins review what it missed, label it, and keep every model with its evaluation.

The messages were masked before they were stored (``keep_unrecognised_message``). An admin
assigns a message (with its repeats) to an intent the assistant knows, or to a new intent
with its answer in every language, or dismisses it. A retrain writes the assigned examples
into the assistant's training data, and records each candidate model with its figures on the
held-out set, deployed or refused, so an admin can see why and roll back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ccm_core.adapters.tables import (
    AssistantModel,
    JobStatus,
    LearnedIntent,
    ModelStatus,
    RetrainRequest,
    ReviewStatus,
    UnrecognisedMessage,
)
from ccm_core.domain import policy, validation
from ccm_core.domain.errors import NotFound, PreconditionFailed, ValidationFailed
from ccm_core.domain.lifecycle import Channel, Language
from ccm_core.domain.policy import Actor
from ccm_core.domain.privacy import mask_personal_data
from ccm_core.domain.records import AuditEvent
from ccm_core.service_layer.unit_of_work import UnitOfWork

INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
MAX_RESPONSE_LENGTH = 1000


@dataclass(frozen=True)
class ReviewGroup:
    """One masked text the assistant missed, with how often and where."""

    language: str
    text: str
    count: int
    item_ids: list[int]
    predicted_intent: str | None  # the intent it guessed most often
    confidence: float | None  # its mean confidence
    conversation_id: str  # the latest conversation it came from
    last_seen: dt.datetime


def review_queue(uow: UnitOfWork, actor: Actor, language: str | None = None) -> list[ReviewGroup]:
    """The open messages grouped by language and text, the most frequent first."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        rows = uow.teaching.open_messages(
            validation.choice("language", language, Language) if language else None
        )
        groups: dict[tuple[str, str], list[UnrecognisedMessage]] = {}
        for row in rows:
            groups.setdefault((row.language, " ".join(row.text.casefold().split())), []).append(row)
        found = []
        for (group_language, _), items in groups.items():
            guesses = Counter(item.predicted_intent for item in items if item.predicted_intent)
            confidences = [item.confidence for item in items if item.confidence is not None]
            latest = max(items, key=lambda item: item.received_at)
            found.append(
                ReviewGroup(
                    language=group_language,
                    text=latest.text,
                    count=len(items),
                    item_ids=[item.id for item in items],
                    predicted_intent=guesses.most_common(1)[0][0] if guesses else None,
                    confidence=sum(confidences) / len(confidences) if confidences else None,
                    conversation_id=latest.conversation_id,
                    last_seen=latest.received_at,
                )
            )
        return sorted(found, key=lambda group: (-group.count, group.language, -group.last_seen.timestamp()))


def _open_items(uow: UnitOfWork, item_ids: Collection[int]) -> list[UnrecognisedMessage]:
    if not item_ids:
        raise ValidationFailed(field="items", problem="required")
    rows = uow.teaching.messages(item_ids)
    if len(rows) != len(set(item_ids)):
        raise NotFound(kind="review_item", key=", ".join(str(i) for i in sorted(set(item_ids))))
    done = [row.id for row in rows if row.status != ReviewStatus.OPEN]
    if done:
        raise PreconditionFailed("already_reviewed", items=", ".join(map(str, done)))
    return list(rows)


def reopen_review_items(uow: UnitOfWork, actor: Actor, *, intent: str) -> int:
    """Return the examples of ``intent`` still waiting for a retrain to the queue (a wrongly labelled batch).

    Examples a retrain already wrote into the training data stay there; a refused candidate
    leaves its examples waiting, so this is how an admin takes a bad batch back.
    """
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        rows = uow.teaching.assigned_unwritten(intent)
        for row in rows:
            row.status, row.assigned_intent, row.reviewed_by, row.reviewed_at = (
                ReviewStatus.OPEN,
                None,
                None,
                None,
            )
        _audit(uow, actor, "reopen_review_items", {"intent": intent, "items": len(rows)})
        uow.commit()
        return len(rows)


def intent_name(name: str) -> str:
    """A valid intent name (``snake_case``), or the reason it is not one."""
    cleaned = (name or "").strip()
    if not INTENT_NAME.match(cleaned) or cleaned.startswith(("nlu_", "EXTERNAL_")):
        raise ValidationFailed(field="intent", problem="invalid_intent_name", value=cleaned)
    return cleaned


def assign_review_items(
    uow: UnitOfWork, actor: Actor, item_ids: Collection[int], *, intent: str, known_intents: Collection[str]
) -> int:
    """Label the messages as examples of ``intent`` (one the assistant knows, or one admins created)."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    intent = intent_name(intent)
    with uow:
        if intent not in known_intents and not uow.teaching.has_learned_intent(intent):
            raise ValidationFailed(field="intent", problem="unknown_choice", value=intent, choices="…")
        items = _open_items(uow, item_ids)
        now = uow.now()
        for item in items:
            item.status, item.assigned_intent = ReviewStatus.ASSIGNED, intent
            item.reviewed_by, item.reviewed_at = actor.label, now
        _audit(uow, actor, "assign_review_items", {"intent": intent, "items": len(items)})
        uow.commit()
        return len(items)


def dismiss_review_items(uow: UnitOfWork, actor: Actor, item_ids: Collection[int]) -> int:
    """Nothing to learn from these (noise, a test, a complaint told in an unusual way that was handled)."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        items = _open_items(uow, item_ids)
        now = uow.now()
        for item in items:
            item.status, item.reviewed_by, item.reviewed_at = ReviewStatus.DISMISSED, actor.label, now
        _audit(uow, actor, "dismiss_review_items", {"items": len(items)})
        uow.commit()
        return len(items)


def create_intent(
    uow: UnitOfWork, actor: Actor, *, name: str, responses: dict[str, str], known_intents: Collection[str]
) -> str:
    """A new intent with the assistant's answer in Turkish, English and German (all three required)."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    name = intent_name(name)
    answers = {
        language.value: validation.text(
            f"response_{language.value}", responses.get(language.value), max_length=MAX_RESPONSE_LENGTH
        )
        or ""
        for language in Language
    }
    if name in known_intents:
        raise PreconditionFailed("intent_exists", intent=name)
    with uow:
        if uow.teaching.has_learned_intent(name):
            raise PreconditionFailed("intent_exists", intent=name)
        uow.teaching.add(
            LearnedIntent(name=name, responses=answers, created_by=actor.label, created_at=uow.now())
        )
        _audit(uow, actor, "create_intent", {"intent": name})
        uow.commit()
        return name


@dataclass(frozen=True)
class IntentView:
    name: str
    responses: dict[str, str]


def learned_intents(uow: UnitOfWork) -> list[IntentView]:
    with uow:
        rows = uow.teaching.learned_intents()
        return [IntentView(row.name, dict(row.responses)) for row in rows]


@dataclass(frozen=True)
class Example:
    id: int
    language: str
    intent: str
    text: str


def examples_to_write(uow: UnitOfWork) -> list[Example]:
    """Assigned messages not yet written into the training data."""
    with uow:
        rows = uow.teaching.to_write()
        return [Example(row.id, row.language, row.assigned_intent or "", row.text) for row in rows]


def assigned_counts(uow: UnitOfWork) -> dict[tuple[str, str], int]:
    """(intent, language) → assigned examples not yet written into the training data."""
    return dict(Counter((e.intent, e.language) for e in examples_to_write(uow)))


def mark_written(uow: UnitOfWork, item_ids: Collection[int]) -> None:
    if not item_ids:
        return
    with uow:
        uow.teaching.mark_written(item_ids, uow.now())
        uow.commit()


# --- models ---


@dataclass(frozen=True)
class ModelView:
    id: int
    name: str
    path: str
    status: str
    evaluation: dict[str, Any]
    baseline: dict[str, Any]
    reason: str | None
    examples_added: int
    created_by: str
    created_at: dt.datetime
    deployed_at: dt.datetime | None = None


def _model_view(row: AssistantModel) -> ModelView:
    return ModelView(
        id=row.id,
        name=row.name,
        path=row.path,
        status=row.status,
        evaluation=dict(row.evaluation),
        baseline=dict(row.baseline),
        reason=row.reason,
        examples_added=row.examples_added,
        created_by=row.created_by,
        created_at=row.created_at,
        deployed_at=row.deployed_at,
    )


def record_model(
    uow: UnitOfWork,
    actor: Actor,
    *,
    name: str,
    path: str,
    deployed: bool,
    evaluation: dict[str, Any],
    baseline: dict[str, Any],
    reason: str | None,
    examples_added: int,
) -> ModelView:
    """A candidate's outcome: deployed (the one before it retires) or refused, with its figures."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        now = uow.now()
        if deployed:
            uow.teaching.retire_deployed()
        row = AssistantModel(
            name=name,
            path=path,
            status=ModelStatus.DEPLOYED if deployed else ModelStatus.REFUSED,
            evaluation=evaluation,
            baseline=baseline,
            reason=reason,
            examples_added=examples_added,
            created_by=actor.label,
            created_at=now,
            deployed_at=now if deployed else None,
        )
        uow.teaching.add(row)
        _audit(uow, actor, "deploy_model" if deployed else "refuse_model", {"model": name})
        uow.commit()
        return _model_view(row)


def models(uow: UnitOfWork, actor: Actor) -> list[ModelView]:
    """Every model trained here, the newest first."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        return [_model_view(row) for row in uow.teaching.models()]


def rolled_back(uow: UnitOfWork, actor: Actor, model_id: int) -> ModelView:
    """Mark an earlier deployed model as the one in service again (after Rasa has loaded it)."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        row = _model_row(uow, model_id)
        if row.deployed_at is None:
            raise PreconditionFailed("model_never_deployed", model=row.name)
        uow.teaching.retire_deployed()
        row.status, row.deployed_at = ModelStatus.DEPLOYED, uow.now()
        _audit(uow, actor, "roll_back_model", {"model": row.name})
        uow.commit()
        return _model_view(row)


def model(uow: UnitOfWork, actor: Actor, model_id: int) -> ModelView:
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        return _model_view(_model_row(uow, model_id))


def _model_row(uow: UnitOfWork, model_id: int) -> AssistantModel:
    row = uow.teaching.model(model_id)
    if row is None:
        raise NotFound(kind="model", key=str(model_id))
    return row


def _audit(uow: UnitOfWork, actor: Actor, action: str, details: dict[str, Any]) -> None:
    uow.audit.add(AuditEvent(actor=actor.label, action=action, at=uow.now(), details=details))


# --- retrain requests (the console's button; a worker runs them) ---


@dataclass(frozen=True)
class RetrainJob:
    id: int
    requested_by: str
    requested_at: dt.datetime
    status: str
    outcome: str | None
    model_id: int | None


def _job(row: RetrainRequest) -> RetrainJob:
    return RetrainJob(row.id, row.requested_by, row.requested_at, row.status, row.outcome, row.model_id)


def request_retrain(uow: UnitOfWork, actor: Actor) -> RetrainJob:
    """Queue a retrain; one already queued or running is returned instead of a second one."""
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        waiting = uow.teaching.waiting_retrain()
        if waiting is not None:
            return _job(waiting)
        row = RetrainRequest(requested_by=actor.label, requested_at=uow.now(), status=JobStatus.QUEUED)
        uow.teaching.add(row)
        _audit(uow, actor, "request_retrain", {})
        uow.commit()
        return _job(row)


def claim_retrain(uow: UnitOfWork, worker: str, *, lease_seconds: int) -> RetrainJob | None:
    """The oldest queued retrain (or one whose worker's lease ran out), now held by ``worker``."""
    with uow:
        claimed = uow.teaching.claim_retrain(worker, now=uow.now(), lease_seconds=lease_seconds)
        if claimed is None:
            uow.rollback()
            return None
        uow.commit()
        return _job(claimed)


def finish_retrain(uow: UnitOfWork, job_id: int, *, outcome: str, model_id: int | None, failed: bool) -> None:
    with uow:
        row = uow.teaching.retrain(job_id)
        if row is None:
            raise NotFound(kind="retrain_request", key=str(job_id))
        row.status = JobStatus.FAILED if failed else JobStatus.DONE
        row.outcome, row.model_id = outcome[:4000], model_id
        row.finished_at, row.lease_until = uow.now(), None
        uow.commit()


def retrain_requests(uow: UnitOfWork, actor: Actor, limit: int = 10) -> list[RetrainJob]:
    policy.ensure_allowed(actor, policy.TEACH_ASSISTANT)
    with uow:
        return [_job(row) for row in uow.teaching.retrains(limit)]


# --- what the assistant did not understand ---

REVIEW_REASONS = ("low_confidence", "out_of_scope")


def keep_unrecognised_message(
    uow: UnitOfWork,
    *,
    channel: str,
    conversation_id: str,
    language: str,
    text: str,
    predicted_intent: str | None,
    confidence: float | None,
    reason: str,
) -> int:
    """Keep a message the assistant missed, personal data masked, for admins to review; returns its id."""
    if reason not in REVIEW_REASONS:
        raise ValidationFailed(
            field="reason", problem="unknown_choice", value=reason, choices=", ".join(REVIEW_REASONS)
        )
    masked = mask_personal_data(validation.text("text", text, max_length=uow.settings.max_text_length) or "")
    with uow:
        item = UnrecognisedMessage(
            received_at=uow.now(),
            channel=validation.choice("channel", channel, Channel),
            conversation_id=conversation_id[:128],
            language=validation.choice("language", language, Language),
            text=masked,
            predicted_intent=predicted_intent,
            confidence=confidence,
            reason=reason,
            status=ReviewStatus.OPEN,
        )
        uow.teaching.add(item)
        uow.commit()
        return item.id
