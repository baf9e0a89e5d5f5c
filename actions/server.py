"""The action server: rasa-sdk's own, on loopback, with a safety net around every action.

An action that fails unexpectedly (the database unreachable, say) would leave the
customer without any answer; instead they are told in their language that nothing they
said is lost, and a form asks its open question again rather than take an unchecked value.

    python -m actions [--port 5055]   (see actions/__main__.py)
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sanic import Sanic

from actions.conversation import text
from ccm_core.logs import configure_logging
from ccm_core.settings import CoreSettings

logger = logging.getLogger("actions")


class AnsweringActionExecutor(ActionExecutor):
    """Runs our actions; an unexpected failure still answers the customer."""

    async def run(
        self, action_call: dict[str, Any], *args: Any, **kwargs: Any
    ) -> ActionExecutorRunResult | None:
        try:
            return await super().run(action_call, *args, **kwargs)
        except (ActionExecutionRejection, ActionNotFoundException):
            raise
        except Exception as failure:  # anything else: the customer must not be left without an answer
            name = action_call.get("next_action")
            # The exception's text may quote what the customer wrote: log its type only.
            logger.error("action %s failed: %s", name, type(failure).__name__)
            return failed_turn(action_call)


def failed_turn(action_call: dict[str, Any]) -> ActionExecutorRunResult:
    tracker = action_call.get("tracker") or {}
    slots = tracker.get("slots") or {}
    events = []
    asked = slots.get("requested_slot")
    if str(action_call.get("next_action", "")).startswith("validate_") and asked:
        events.append(SlotSet(asked, None))  # ask again rather than keep an unchecked answer
    message = text(slots.get("language") or "en", "something_went_wrong")
    return ActionExecutorRunResult(events=events, responses=[{"text": message}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    configure_logging(CoreSettings().log_level)
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")  # rasa-sdk takes its address from the environment only
    executor = AnsweringActionExecutor()
    executor.register_package("actions")
    serve(executor, args.port)


def serve(executor: ActionExecutor, port: int) -> None:
    """rasa-sdk's app, served by this one process.

    rasa-sdk's own ``run`` starts Sanic's manager, which serves from a child process: a manager
    killed with SIGKILL (a crash, the OOM killer) leaves that child holding the port, out of its
    supervisor's reach, and the supervisor's restart cannot listen there. A single process dies
    whole and comes back whole.
    """
    app = create_app_for_serve(executor)
    app.prepare(host=os.environ["SANIC_HOST"], port=port, single_process=True)
    Sanic.serve_single(app)
