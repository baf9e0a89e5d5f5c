"""An action that fails unexpectedly still answers the customer, in their language, and loses nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions import conversation
from actions.conversation import text
from actions.server import AnsweringActionExecutor
from tests.harness import PROJECT_ROOT
from tests.http_server import free_port


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CCM_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/unreachable")
    conversation.core.cache_clear()
    yield
    conversation.core.cache_clear()


def call(action: str, language: str, message: str, **slots: Any) -> dict[str, Any]:
    return {
        "next_action": action,
        "sender_id": "customer-1",
        "tracker": {
            "sender_id": "customer-1",
            "slots": {"language": language, **slots},
            "latest_message": {"text": message, "intent": {"name": "inform"}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": "complaint_form"} if slots else {},
            "latest_action_name": "action_listen",
        },
        "domain": {},
    }


def run(action_call: dict[str, Any]) -> Any:
    executor = AnsweringActionExecutor()
    executor.register_package("actions")
    return asyncio.run(executor.run(action_call))


def test_a_status_question_while_the_database_is_down_gets_an_answer(database_down: None) -> None:
    result = run(call("action_check_status", "de", "wo ist CMP-2026-000001?"))
    assert [r["text"] for r in result.responses] == [text("de", "something_went_wrong")]
    assert result.events == []


def test_a_failed_validation_asks_again_instead_of_keeping_the_answer(database_down: None) -> None:
    result = run(
        call("validate_complaint_form", "tr", "Teslimat", requested_slot="category", category="Teslimat")
    )
    assert [r["text"] for r in result.responses] == [text("tr", "something_went_wrong")]
    assert result.events == [{"event": "slot", "timestamp": None, "name": "category", "value": None}]


def start_action_server(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """``python -m actions`` as supervisord starts it; returns once it answers ``/health``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "actions", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CCM_DATA_DIR": str(directory)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"the action server on port {port} did not answer")


def test_an_action_server_killed_with_sigkill_leaves_nothing_behind_and_its_restart_serves(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = start_action_server(port, tmp_path)
    first.kill()  # SIGKILL: a crash or the OOM killer, as supervisord sees it
    first.wait()
    with pytest.raises(httpx.ConnectError):  # no child of it serves on, out of the supervisor's reach
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    again = start_action_server(port, tmp_path)  # the supervisor's restart listens on the same port
    again.terminate()
    again.wait(timeout=30)
