"""Slot mappings are not validated by the action server after an external event.

Rasa 3.6 asks the action server to run ``action_validate_slot_mappings`` after every user event,
including the ``EXTERNAL_notice`` / ``EXTERNAL_survey`` the worker triggers for each message the
product owes a customer. Those carry no customer words and no metadata, so the validation has
nothing to find (the language, the channel and an offer's answer all come from what the customer
writes), yet it costs a whole action-server call, with the conversation serialised both ways, on
every notice. Slots an external event's own entities fill are still set, as Rasa sets them; every
message a customer writes is validated as before.
"""

from __future__ import annotations

from typing import Any

from rasa.core.actions.action import ActionExtractSlots
from rasa.shared.core.constants import IS_EXTERNAL
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker


def install() -> None:
    """Make ``ActionExtractSlots`` skip the validation action after an external event."""
    validate = ActionExtractSlots._execute_validation_action

    async def execute_validation_action(
        self: ActionExtractSlots,
        extraction_events: list[Event],
        output_channel: Any,
        nlg: Any,
        tracker: DialogueStateTracker,
        domain: Any,
    ) -> list[Event]:
        if tracker.latest_message and tracker.latest_message.metadata.get(IS_EXTERNAL):
            return [event for event in extraction_events if isinstance(event, SlotSet)]
        return await validate(self, extraction_events, output_channel, nlg, tracker, domain)

    ActionExtractSlots._execute_validation_action = execute_validation_action  # type: ignore[method-assign]
