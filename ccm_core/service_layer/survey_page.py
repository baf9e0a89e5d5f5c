"""The survey page's use cases (09/10): whom a signed survey link invites, and recording its answer.

A link (``ccm_core.domain.survey_link``) is the credential of a customer who left the chat: it
names one case and one survey round. It is used up when that round's answer is recorded, whichever
way the answer came (chat, link, staff), so nothing is asked twice and nothing is answered twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccm_core.domain.complaint import Complaint
from ccm_core.domain.errors import ConcurrentUpdate, InvalidTransition
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.policy import Actor
from ccm_core.domain.survey import Choice, load_survey
from ccm_core.domain.survey_link import read_survey_token
from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer import services
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView

FORGED = "forged"  # altered, made up, or naming no case we have: the page answers "not found"
ERASED = "erased"  # the customer's personal data was erased: nothing more is asked of them
ANSWERED = "answered"  # this round's answer is recorded already, by any way
CLOSED = "closed"  # the survey is not open for this round (expired, closed, another round now)


class SurveyLinkRefused(Exception):
    """Why a link shows no survey; ``language`` is the case's when a case was found, else None."""

    def __init__(self, why: str, *, reference: str | None = None, language: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.reference = reference
        self.language = language


@dataclass(frozen=True)
class SurveyInvitation:
    """What the page shows for a genuine, open link: the questions in the language asked for."""

    reference: str
    round: int
    language: str  # the case's language
    question: str
    choices: list[Choice]
    comment_question: str
    comment_max_length: int
    nps_question: str | None  # None when the NPS question is off
    nps_choices: list[Choice]


def survey_for_link(uow: UnitOfWork, token: str, language: str | None = None) -> SurveyInvitation:
    """The survey a link invites to, in ``language`` (the customer switched) or the case's own.

    Raises ``SurveyLinkRefused`` for a forged link, an erased customer, an answered round or a
    survey that is not open for the link's round.
    """
    with uow:
        complaint, round_ = _open_survey(uow, token)
        shown = language if language in LANGUAGES else complaint.language
        definition = load_survey(uow.settings.survey_file)
        nps_on = uow.settings.survey_nps
        return SurveyInvitation(
            reference=complaint.reference,
            round=round_,
            language=complaint.language,
            question=definition.csat_question(shown, complaint.reference),
            choices=definition.csat.choices(shown),
            comment_question=definition.comment_question(shown),
            comment_max_length=uow.settings.max_text_length,
            nps_question=definition.nps_question(shown) if nps_on else None,
            nps_choices=definition.nps.choices(shown) if nps_on else [],
        )


def answer_survey_link(
    uow: UnitOfWork, token: str, *, score: int, comment: str | None, nps: int | None
) -> CaseView:
    """10 by link: satisfied closes the case, not satisfied opens a follow-up round (11).

    The audit names ``customer:survey_link``. An answer that arrived by chat between the check
    and the change is reported as ``answered``, not as a conflict: the customer was heard.
    """
    with uow:
        complaint, _ = _open_survey(uow, token)
        reference = complaint.reference
    try:
        return services.record_survey_answer(
            uow,
            Actor.survey_link(reference),
            reference,
            score=score,
            comment=comment,
            nps=nps if uow.settings.survey_nps else None,
            source="link",
        )
    except (InvalidTransition, ConcurrentUpdate):
        survey_for_link(uow, token)  # raises the refusal that now applies
        raise


def _open_survey(uow: UnitOfWork, token: str) -> tuple[Complaint, int]:
    """The case and round of a genuine link whose survey is open; call inside ``with uow``."""
    named = read_survey_token(uow.settings.secret_key, token)
    complaint = uow.complaints.get(named[0]) if named else None
    if named is None or complaint is None:
        raise SurveyLinkRefused(FORGED)
    round_ = named[1]
    facts = {"reference": complaint.reference, "language": complaint.language}
    if complaint.customer.erased_at is not None:
        raise SurveyLinkRefused(ERASED, language=complaint.language)
    if any(response.round == round_ for response in complaint.survey_responses):
        raise SurveyLinkRefused(ANSWERED, **facts)
    if complaint.status != Status.SURVEY_SENT or complaint.follow_up_round != round_:
        raise SurveyLinkRefused(CLOSED, **facts)
    return complaint, round_
