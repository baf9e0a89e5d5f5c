"""Faults under load on the real cluster: nothing a customer or staff member did is lost or done twice.

``make run-cluster`` on a Redis of its own, Telegram and Slack played by local stand-ins: four
customers file complaints and chat through the Telegram webhook while a staff member reviews and
decides their cases in Slack and the workers deliver the notices. One web server, one Rasa server,
one action server and one worker are killed with SIGKILL in turn, then Redis is killed and started
again from its append-only file (``benchmarks/faults.py``, which ``make bench-faults`` runs
longer). About five minutes, most of it Rasa loading its model at the start and after its kill.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.faults import run

pytestmark = [pytest.mark.postgres, pytest.mark.rasa, pytest.mark.cluster]

CUSTOMERS = 4
PAUSE_SECONDS = 10  # of load after each fault


def test_killed_replicas_and_a_redis_restart_lose_nothing_and_do_nothing_twice(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory: Path = tmp_path_factory.mktemp("faults")  # short: supervisord's socket path has a length limit
    counts = run(CUSTOMERS, PAUSE_SECONDS, directory)
    print("\n" + "\n".join(counts.lines()))

    assert counts.problems == dict.fromkeys(counts.problems, 0)
    assert counts.complaints_told >= CUSTOMERS  # every customer filed at least one
    assert counts.answered_at_once + counts.answered_after_503 + counts.answered_after_other_refusal == (
        counts.messages
    )
    assert counts.cases_decided == counts.complaints_told  # every case reviewed and decided in Slack
    assert counts.outbox_delivered >= 2 * counts.complaints_told  # the review's and the decision's notices
    killed = [fault.what.removeprefix("kill -9 ").rsplit("-", 1)[0] for fault in counts.faults[:4]]
    assert killed == ["web", "rasa", "actions", "worker"] and counts.faults[4].what.startswith("Redis")
