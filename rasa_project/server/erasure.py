"""Erasing a customer's conversation from the tracker store, between two of its turns.

The product erases a customer's personal data everywhere it keeps it (KVKK Art. 7, GDPR Art. 17);
the assistant's tracker store holds their every word. Rasa has no call for that, so the customer
channel offers one (``POST /webhooks/customer/erase``). It takes the conversation's lock first, as
a turn does: a turn under way finishes and is erased with the rest, and none is half-written over
the erasure. With ``CCM_RASA_TOKEN`` set, it asks for that token, as Rasa's own API does.
"""

from __future__ import annotations

import hmac
import os

from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore, TrackerStore
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse


async def erase(request: Request) -> HTTPResponse:
    """Erase the conversation named by ``sender``: 200 once it is gone (also when there was none)."""
    token = os.environ.get("CCM_RASA_TOKEN", "")
    if token and not hmac.compare_digest(request.args.get("token", ""), token):
        return response.json({"error": "a valid token is required"}, status=401)
    body = request.json if isinstance(request.json, dict) else {}
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender:
        return response.json({"error": "'sender' is a required string"}, status=400)
    agent = request.app.ctx.agent
    async with agent.lock_store.lock(sender):
        await delete_conversation(agent.tracker_store, sender)
    return response.json({"erased": True})


async def delete_conversation(store: TrackerStore, sender: str) -> None:
    """Delete every event of the conversation, whichever store keeps it."""
    if isinstance(store, FailSafeTrackerStore):  # Rasa's wrapper: erasure must not fall back to memory
        store = store._tracker_store
    if isinstance(store, SQLTrackerStore):
        with store.session_scope() as session:
            session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).delete()
            session.commit()
    elif isinstance(store, InMemoryTrackerStore):
        store.store.pop(sender, None)
    elif callable(deleting := getattr(store, "delete", None)):
        await deleting(sender)
    else:
        raise TypeError(f"no way to erase a conversation from {type(store).__name__}")
