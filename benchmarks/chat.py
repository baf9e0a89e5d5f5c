"""How fast the chat assistant answers: a complaint filing's turns against a greeting, alone and 20 at once.

The real assistant runs as the product runs it (``tests.harness.running_assistant``: our action
server and a Rasa 3.6 server on free local ports) against a fresh database, migrated and seeded with
the demo organisation: a SQLite file in a temporary directory, or with ``--database postgresql`` a
database created on the server of ``CCM_TEST_POSTGRES_URL`` and dropped afterwards. Rasa keeps its
trackers in the same kind of database. Customers talk over the customer channel, one thread and one
conversation id each, and every turn is timed on its own (``RasaClient.say``).

Two kinds of turn are measured, each with 1 conversation and with ``--concurrency`` at once:

* complaint turns: a whole filing in English: the complaint, the Delivery topic button, the order
  number, the e-mail address, consent, the summary confirmed (which records the complaint). Every
  answer is checked against the question the assistant should ask next, and the complaints are
  counted in the database at the end;
* plain turns: "hello" in a conversation that has already started, answered by a rule with the
  domain's ``utter_greet``. The policies predict no custom action for it, but Rasa 3.6 still calls
  ``action_validate_slot_mappings`` (our language and channel detection) on the action server after
  every user message; the tracker does not show that call. The output says what the tracker shows.

Everything is bounded: the counts below, and ``--time-limit`` for the whole run, Rasa's start-up
included (after it, no customer starts a second filing or greeting; the first one each always runs,
so a slow start-up makes the run at most one round per cell longer; ``tests.harness`` gives up on a
start-up after 240 s). A benchmark whose conversations
failed says so and exits with status 1. The figures are only as good as the machine is quiet: the load
average is printed before and after.

With ``--baseline-model`` the whole measurement runs twice in one invocation, first on that model
(an earlier version of the assistant: ``make bench-chat BASELINE=<git revision>`` trains it from that
revision's ``rasa_project/``) and then on the current one, each on a fresh database and fresh servers,
and the turns are compared side by side at the end.

    .venv/bin/python -m benchmarks.chat [--database sqlite|postgresql] [--concurrency N] [--time-limit S]
                                        [--baseline-model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text as sql

from actions.conversation import text
from benchmarks.lifecycle import POSTGRES_SERVER_URL, fresh_database, milliseconds_at
from ccm_core.adapters.db import DatabaseUnavailable, create_db_engine
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import bootstrap
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantUnavailable, RasaClient, running_assistant

DATABASES = ("sqlite", "postgresql")
TURN_TIMEOUT_SECONDS = 60
RESERVE_PER_LATER_CELL_SECONDS = 8  # a cell stops starting work early enough for the later cells to run
FINAL_RESERVE_SECONDS = 10  # the checks and stopping both servers
WARM_UP_COMPLAINTS = 2
LANGUAGE = "en"

OPENING = "my parcel arrived broken and nobody answers the phone"
ORDER_NUMBER = "4711-2233"
EMAIL = "jane@example.com"
DELIVERY_BUTTON = '/inform{"category":"delivery"}'
REFERENCE = re.compile(r"\bCMP-\d{4}-\d{6}\b")
GREETING = "hello"

Replies = list[dict[str, Any]]


def _texts(replies: Replies) -> list[str]:
    return [reply.get("text") or "" for reply in replies]


def _asks(key: str) -> Callable[[Replies], bool]:
    return lambda replies: text(LANGUAGE, key) in _texts(replies)


def _offers_delivery(replies: Replies) -> bool:
    """The topic question, with Delivery predicted (to confirm) or among the buttons."""
    predicted = text(LANGUAGE, "category_question", category="Delivery") in _texts(replies)
    offered = any(
        button.get("payload") == DELIVERY_BUTTON for r in replies for button in r.get("buttons") or []
    )
    return predicted or offered


def _summarises(replies: Replies) -> bool:
    wanted = (
        text(LANGUAGE, "summary_order", value=ORDER_NUMBER),
        text(LANGUAGE, "summary_contact", value=EMAIL),
    )
    return any(all(line in reply for line in wanted) for reply in _texts(replies))


def _records(replies: Replies) -> bool:
    return any(REFERENCE.search(reply) for reply in _texts(replies))


@dataclass(frozen=True)
class Step:
    name: str
    message: str
    answered: Callable[[Replies], bool]
    expected: str


# A customer filing a delivery complaint on the web chat; each answer is what the assistant asks for next.
# The topic is tapped rather than confirmed, the same for every model: an earlier model predicted
# "Service quality" for the opening, which needs no order number.
COMPLAINT = (
    Step("1 complaint", OPENING, _offers_delivery, "the topic question offering Delivery"),
    Step("2 topic: Delivery", DELIVERY_BUTTON, _asks("ask_order_number"), "the order number question"),
    Step(f"3 order {ORDER_NUMBER}", f"order {ORDER_NUMBER}", _asks("ask_contact"), "the contact question"),
    Step("4 e-mail address", EMAIL, _asks("ask_consent"), "the consent question"),
    Step("5 consent: /affirm", "/affirm", _summarises, "the summary with the order number and e-mail"),
    Step("6 summary: /affirm", "/affirm", _records, "a complaint reference (CMP-…)"),
)


class ConversationFailed(RuntimeError):
    pass


def say_checked(
    client: RasaClient, conversation: str, step: Step, timings: list[tuple[str, float]]
) -> Replies:
    """One timed turn; the answer must be the one ``step`` expects."""
    start = time.perf_counter()
    try:
        replies = client.say(conversation, step.message)
    except httpx.HTTPError as exc:
        raise ConversationFailed(f"{conversation} turn {step.name!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        timings.append((step.name, time.perf_counter() - start))
    if not step.answered(replies):
        shown = json.dumps(_texts(replies), ensure_ascii=False)[:300]
        raise ConversationFailed(f"{conversation} turn {step.name!r}: expected {step.expected}, got {shown}")
    return replies


def file_complaint(client: RasaClient, conversation: str, timings: list[tuple[str, float]]) -> str:
    """The whole filing; returns the reference the assistant gave."""
    replies: Replies = []
    for step in COMPLAINT:
        replies = say_checked(client, conversation, step, timings)
    return next(m.group(0) for reply in _texts(replies) if (m := REFERENCE.search(reply)))


@dataclass
class Cell:
    """One kind of turn at one concurrency: every turn's duration and what came of the conversations."""

    kind: str
    concurrency: int
    planned_turns: int
    seconds: float = 0.0
    timings: list[tuple[str, float]] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stopped_by_time_limit: bool = False

    @property
    def durations(self) -> list[float]:
        return [seconds for _, seconds in self.timings]


def run_cell(
    url: str,
    kind: str,
    concurrency: int,
    rounds: int,
    deadline: float,
    plain_conversations: Sequence[str],
    greeting: list[str],
) -> Cell:
    """``concurrency`` customers at once, each on its own thread and conversation, until done or ``deadline``.

    A complaint customer files ``rounds`` complaints, each in a new conversation; a plain customer says
    hello ``rounds`` times in its already started conversation. Every customer does its first round
    whatever the time, so that every cell has figures, and starts no other after ``deadline``; a filing
    under way is finished, so that every filing started is checked in the database.
    """
    per_turn = len(COMPLAINT) if kind == "complaint" else 1
    cell = Cell(kind, concurrency, planned_turns=concurrency * rounds * per_turn)
    lock = threading.Lock()
    started = threading.Barrier(concurrency, action=lambda: setattr(cell, "seconds", time.perf_counter()))
    run_id = uuid.uuid4().hex[:6]
    hello = Step("hello", GREETING, lambda replies: _texts(replies) == greeting, "the greeting (utter_greet)")

    def customer(number: int) -> float:
        client = RasaClient(url, timeout=TURN_TIMEOUT_SECONDS)
        timings: list[tuple[str, float]] = []
        try:
            started.wait()
            for round_ in range(rounds):
                if round_ and time.perf_counter() > deadline:
                    cell.stopped_by_time_limit = True
                    break
                if kind == "complaint":
                    conversation = f"bench-{run_id}-complaint{concurrency}-{number}-{round_}"
                    with lock:
                        cell.conversations.append(conversation)
                    reference = file_complaint(client, conversation, timings)
                    with lock:
                        cell.references[conversation] = reference
                else:
                    say_checked(client, plain_conversations[number], hello, timings)
        except ConversationFailed as failure:
            with lock:
                cell.failures.append(str(failure))
        finally:
            client.close()
            with lock:
                cell.timings += timings
        return time.perf_counter()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        finished = list(pool.map(customer, range(concurrency)))
    cell.seconds = max(finished) - cell.seconds
    return cell


def warm_up(
    client: RasaClient, plain_conversations: Sequence[str], concurrency: int
) -> tuple[dict[str, str], list[str]]:
    """A few complaints filed one after the other and every plain conversation started with a greeting.

    Returns the references of the complaints and the greeting, which every later "hello" must get too.
    """
    references = {}
    for number in range(WARM_UP_COMPLAINTS):
        conversation = f"bench-warm-up-{uuid.uuid4().hex[:6]}-{number}"
        references[conversation] = file_complaint(client, conversation, [])
    first = client.say(plain_conversations[0], GREETING)
    greeting = _texts(first)
    if len(greeting) != 1 or not greeting[0]:
        raise ConversationFailed(f"warm-up: 'hello' got {json.dumps(first, ensure_ascii=False)[:300]}")

    def start(conversation: str) -> None:
        greeter = RasaClient(client.url, timeout=TURN_TIMEOUT_SECONDS)
        try:
            if _texts(greeter.say(conversation, GREETING)) != greeting:
                raise ConversationFailed(f"warm-up: 'hello' in {conversation} was not greeted")
        finally:
            greeter.close()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(start, plain_conversations[1:]))
    return references, greeting


@dataclass(frozen=True)
class Turn:
    said: str
    actions: list[str]
    slots: dict[str, Any]  # the slots the turn set to a value (not requested_slot), the last value of each


def tracked_turns(client: RasaClient, conversation: str) -> list[Turn]:
    """The conversation's turns as Rasa's tracker records them (GET /conversations/{id}/tracker)."""
    response = client.http.get(f"{client.url}/conversations/{conversation}/tracker", params=client.params)
    response.raise_for_status()
    turns: list[Turn] = []
    before_first: list[dict[str, Any]] = []
    for event in response.json()["events"]:
        if event["event"] == "user":
            turns.append(Turn(event.get("text") or "", [], {}))
            for earlier in before_first:
                if earlier["event"] == "action" and earlier["name"] != "action_listen":
                    turns[-1].actions.append(earlier["name"])
            before_first = []
        elif not turns:
            before_first.append(event)
        elif event["event"] == "action" and event["name"] != "action_listen":
            turns[-1].actions.append(event["name"])
        elif (
            event["event"] == "slot" and event.get("value") is not None and event["name"] != "requested_slot"
        ):
            turns[-1].slots[event["name"]] = event["value"]
    return turns


def describe(actions: Sequence[str], domain: dict[str, Any]) -> str:
    """The actions of a turn, custom ones starred, forms marked."""
    custom, forms = set(domain.get("actions") or ()), set(domain.get("forms") or ())
    return (
        ", ".join(
            f"{action} (form)" if action in forms else f"{action}*" if action in custom else action
            for action in actions
        )
        or "-"
    )


@dataclass(frozen=True)
class Check:
    recorded: int
    expected: int
    as_filed: int
    missing: list[str]


def check_database(url: str, references: dict[str, str]) -> Check:
    """Every reference a conversation got is a complaint as filed: Delivery, the order number, the e-mail."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            recorded = connection.execute(sql("SELECT count(*) FROM complaints")).scalar_one()
            rows = connection.execute(
                sql(
                    "SELECT c.reference FROM complaints c"
                    " JOIN categories k ON k.id = c.category_id JOIN customers p ON p.id = c.customer_id"
                    " WHERE k.code = 'delivery' AND c.external_reference = :order AND p.email = :email"
                ),
                {"order": ORDER_NUMBER, "email": EMAIL},
            ).scalars()
            as_filed = set(rows)
    finally:
        engine.dispose()
    missing = sorted(f"{c} ({r})" for c, r in references.items() if r not in as_filed)
    return Check(recorded, len(references), len(as_filed & set(references.values())), missing)


def aligned(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Columns aligned: the first ``left`` to the left, the figures to the right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if column < left else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def figures(durations: Sequence[float], seconds: float | None = None) -> list[str]:
    if not durations:
        return ["0", "-", "-"] + ([] if seconds is None else ["-"])
    cells = [
        str(len(durations)),
        f"{milliseconds_at(durations, 50):.0f}",
        f"{milliseconds_at(durations, 95):.0f}",
    ]
    if seconds is not None:
        cells.append(f"{len(durations) / seconds:.1f}")
    return cells


def side_by_side(
    title: str, labels: Sequence[str], groups: Sequence[str], cells: Sequence[Sequence[list[str]]]
) -> list[str]:
    """One row per label, one group of columns per concurrency with its title over it."""
    columns = ["turns", "p50 ms", "p95 ms", "turns/s"][: len(cells[0][0])]
    rows = [[title] + columns * len(groups)]
    rows += [[label] + [c for cell in row for c in cell] for label, row in zip(labels, cells, strict=True)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    spans = []
    for number, group in enumerate(groups):
        first = 1 + number * len(columns)
        span = sum(widths[first : first + len(columns)]) + 2 * (len(columns) - 1)
        widths[first] += max(0, len(group) - span)
        spans.append(max(span, len(group)))
    gap = " " * 4

    def line(row: Sequence[str]) -> str:
        figures = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        grouped = ["  ".join(figures[n : n + len(columns)]) for n in range(0, len(figures), len(columns))]
        return gap.join([row[0].ljust(widths[0]), *grouped])

    over = gap.join(
        [" " * widths[0], *(group.rjust(span) for group, span in zip(groups, spans, strict=True))]
    )
    return [over.rstrip(), *(line(row) for row in rows)]


def load_average() -> str:
    """The 1-minute load average, flagged when other work competes for the CPUs."""
    load = os.getloadavg()[0]
    busy = load > 0.5 * (os.cpu_count() or 1)
    return f"load average {load:.2f}" + (
        " (busy: other processes compete with the benchmark)" if busy else ""
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chat", description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=DATABASES, default="sqlite", help="default sqlite")
    parser.add_argument("--concurrency", type=int, default=20, help="conversations at once (default 20)")
    parser.add_argument(
        "--complaints", type=int, default=5, help="complaints filed one after the other (default 5)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="complaints per concurrent customer (default 2)"
    )
    parser.add_argument(
        "--greetings", type=int, default=40, help="greetings in one conversation (default 40)"
    )
    parser.add_argument(
        "--concurrent-greetings", type=int, default=10, help="greetings per concurrent customer (default 10)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=180,
        help="seconds for the whole run, start-up included (default 180; per model with --baseline-model)",
    )
    parser.add_argument(
        "--baseline-model",
        type=Path,
        help="an earlier model to measure first, for a side-by-side comparison with the current one",
    )
    arguments = parser.parse_args(argv)
    for name in ("concurrency", "complaints", "rounds", "greetings", "concurrent_greetings"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if arguments.time_limit <= 0:
        parser.error("--time-limit must be positive")
    if arguments.concurrency > 200:
        parser.error("--concurrency is at most 200")
    if arguments.baseline_model and not arguments.baseline_model.is_file():
        parser.error(f"--baseline-model: {arguments.baseline_model} is not a file")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    began = time.perf_counter()
    arguments = parse_arguments(argv)
    deadline = began + arguments.time_limit
    print(
        f"CCM chat benchmark: Rasa's customer channel and our action server, "
        f"1 and {arguments.concurrency} conversations at once"
    )
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {load_average()}",
        flush=True,
    )
    models = [("baseline", str(arguments.baseline_model))] if arguments.baseline_model else []
    models.append(("current", os.environ.get("CCM_RASA_MODEL", "")))
    measured: dict[str, dict[tuple[str, int], Cell]] = {}
    failed = False
    try:
        for label, model in models:
            if len(models) > 1:
                print(f"\n=== {label} model: {Path(model).name} ===", flush=True)
                deadline = time.perf_counter() + arguments.time_limit
            with fresh_database(arguments.database) as url:
                cells = run(arguments, url, began, deadline, model)
            failed = failed or cells is None
            measured[label] = cells or {}
    except DatabaseUnavailable as exc:
        sys.exit(f"{exc} (The benchmark's PostgreSQL server is set by CCM_TEST_POSTGRES_URL.)")
    except AssistantUnavailable as exc:
        sys.exit(f"The assistant did not start: {exc}")
    if len(models) > 1 and not failed:
        report_comparison(measured, arguments.concurrency)
    limit = arguments.time_limit * len(models)
    print(f"\nTotal {time.perf_counter() - began:.0f} s (limit {limit:.0f} s).")
    if failed:
        sys.exit(
            "FAILED: the conversations above did not all file their complaints; the figures are not valid."
        )


def run(
    arguments: argparse.Namespace, url: str, began: float, deadline: float, model: str
) -> dict[tuple[str, int], Cell] | None:
    """Migrate and seed ``url``, start the assistant with ``model`` on it, measure, check.

    The measured cells, or None when something failed.
    """
    with tempfile.TemporaryDirectory(prefix="ccm-bench-chat-") as directory:
        workdir = Path(directory)
        upgrade(url)
        core = bootstrap(CoreSettings(data_dir=workdir, database_url=url))
        try:
            seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
            version = ".".join(map(str, core.engine.dialect.server_version_info or ()))
        finally:
            core.engine.dispose()
        where = (
            "fresh file in a temporary directory; Rasa's trackers in a SQLite file beside it"
            if arguments.database == "sqlite"
            else f"fresh database on {POSTGRES_SERVER_URL.rsplit('@', 1)[-1]}, dropped afterwards; "
            "Rasa's trackers in it too"
        )
        print(f"{arguments.database} {version} ({where})", flush=True)
        starting = time.perf_counter()
        with running_assistant(url, workdir, {"CCM_RASA_MODEL": model}) as client:
            cells = measure(arguments, client, url, starting, deadline)
            if cells is None:
                for log in ("actions.log", "rasa.log"):
                    tail = (workdir / log).read_text(errors="replace").splitlines()[-15:]
                    print(f"\nLast lines of {log}:", *("  " + line for line in tail), sep="\n")
        return cells


def report_cells(cells: dict[tuple[str, int], Cell], concurrency: int) -> None:
    groups = ["1 conversation", f"{concurrency} conversations at once"]
    print()
    print(
        "\n".join(
            side_by_side(
                "turn",
                ["complaint turn (custom actions)", "plain turn (hello → utter_greet)"],
                groups,
                [
                    [figures(cells[kind, n].durations, cells[kind, n].seconds) for n in (1, concurrency)]
                    for kind in ("complaint", "plain")
                ],
            )
        )
    )
    for (kind, at_once), cell in cells.items():
        if cell.stopped_by_time_limit:
            print(
                f"  {kind} turns, {at_once} at once: stopped at the time limit after "
                f"{len(cell.timings)} of {cell.planned_turns} planned turns"
            )
    print("\nThe complaint turns one by one:")
    by_step: dict[int, dict[str, list[float]]] = {n: defaultdict(list) for n in (1, concurrency)}
    for n in (1, concurrency):
        for step, seconds in cells["complaint", n].timings:
            by_step[n][step].append(seconds)
    rows = [[figures(by_step[n][step.name]) for n in (1, concurrency)] for step in COMPLAINT]
    table = side_by_side("turn", [step.name for step in COMPLAINT], groups, rows)
    print("\n".join("  " + line for line in table))


def report_comparison(measured: dict[str, dict[tuple[str, int], Cell]], concurrency: int) -> None:
    """The baseline's and the current model's turns, side by side, and how much the p50 moved."""
    groups = ["1 conversation", f"{concurrency} conversations at once"]
    labels, rows = [], []
    for kind in ("complaint", "plain"):
        for model, cells in measured.items():
            labels.append(f"{kind} turn, {model}")
            rows.append([figures(cells[kind, n].durations, cells[kind, n].seconds) for n in (1, concurrency)])
    print("\n=== Side by side ===")
    print("\n".join(side_by_side("turn", labels, groups, rows)))
    for n in (1, concurrency):
        before, after = (milliseconds_at(measured[m]["complaint", n].durations, 50) for m in measured)
        print(f"complaint turn p50, {n} at once: {before:.0f} ms → {after:.0f} ms ({after - before:+.0f} ms)")


def report_tracker(
    client: RasaClient, domain: dict[str, Any], complaint: str | None, plain_conversation: str
) -> None:
    """What the turns contain, from Rasa's trackers of one measured conversation of each kind."""
    print("\nWhat a turn runs, as Rasa's tracker records it (GET /conversations/{id}/tracker):")
    rows = [["turn", "actions", "slots set"]]
    if complaint:
        for step, turn in zip(COMPLAINT, tracked_turns(client, complaint), strict=False):
            rows.append(
                [f"complaint {step.name}", describe(turn.actions, domain), ", ".join(turn.slots) or "-"]
            )
    plain = tracked_turns(client, plain_conversation)
    first = ", ".join(f"{name}={value!r}" for name, value in plain[0].slots.items()) or "-"
    rows.append(["plain, first hello (warm-up)", describe(plain[0].actions, domain), first])
    for actions in sorted({tuple(turn.actions) for turn in plain[1:]}):
        same = [turn for turn in plain[1:] if tuple(turn.actions) == actions]
        slots = sorted({f"{name}={value!r}" for turn in same for name, value in turn.slots.items()})
        rows.append(
            [f"plain, hello ×{len(same)} (measured)", describe(actions, domain), ", ".join(slots) or "-"]
        )
    print("\n".join("  " + line for line in aligned(rows, left=3)))
    print("  * custom action, run by our action server; (form): Rasa's form loop, which calls")
    print(
        "    validate_complaint_form and action_ask_<slot> on the action server; utter_*: a domain response."
    )
    custom = set(domain.get("actions") or ()) | set(domain.get("forms") or ())
    predicted = {action for turn in plain[1:] for action in turn.actions if action in custom}
    if predicted:
        print(f"  The plain turn is not plain: the tracker shows {', '.join(sorted(predicted))}.")
        return
    if "action_validate_slot_mappings" not in (domain.get("actions") or ()):
        print("  The plain turn runs no custom action and, without action_validate_slot_mappings, no call.")
        return
    print(
        textwrap.fill(
            "The plain turn runs no custom action that the policies predict, but it is not free of the "
            "action server: action_validate_slot_mappings is in the domain, so Rasa 3.6 calls it after "
            "every user message (in action_extract_slots, which the tracker does not record). There it "
            "detects the language on the first message (language='en' above, set by the action server) "
            "and returns nothing later. So a plain turn is NLU, one action-server call, the rule and "
            "the rendered response; a complaint turn makes 3 action-server calls (that one, "
            "validate_complaint_form, then the next question or the recording), the first turn 6 "
            "(also action_session_start and action_start_complaint), as Rasa's debug log shows; this "
            "benchmark does not count them.",
            width=104,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    )


def measure(
    arguments: argparse.Namespace, client: RasaClient, url: str, starting: float, deadline: float
) -> dict[tuple[str, int], Cell] | None:
    """Warm up, measure every cell, report and check; the cells, or None when something failed."""
    status = client.http.get(f"{client.url}/status", params=client.params).json()
    rasa_version = client.http.get(f"{client.url}/version").json().get("version", "?")
    domain = client.http.get(
        f"{client.url}/domain", params=client.params, headers={"Accept": "application/json"}
    ).json()
    print(
        f"Rasa {rasa_version}, model {Path(status.get('model_file', '?')).name}: "
        f"up in {time.perf_counter() - starting:.0f} s",
        flush=True,
    )
    concurrency = arguments.concurrency
    plain_conversations = [f"bench-plain-{uuid.uuid4().hex[:6]}-{n}" for n in range(concurrency)]
    warming = time.perf_counter()
    try:
        references, greeting = warm_up(client, plain_conversations, concurrency)
    except (ConversationFailed, httpx.HTTPError) as failure:
        print(f"\nFAILED in the warm-up: {failure}")
        return None
    print(
        f"Warm-up: {WARM_UP_COMPLAINTS} complaints filed and {concurrency} conversations greeted "
        f"in {time.perf_counter() - warming:.1f} s (not measured)",
        flush=True,
    )

    plan = [
        ("complaint", 1, arguments.complaints),
        ("plain", 1, arguments.greetings),
        ("complaint", concurrency, arguments.rounds),
        ("plain", concurrency, arguments.concurrent_greetings),
    ]
    cells: dict[tuple[str, int], Cell] = {}
    for number, (kind, at_once, rounds) in enumerate(plan):
        later = len(plan) - number - 1
        cell_deadline = deadline - FINAL_RESERVE_SECONDS - RESERVE_PER_LATER_CELL_SECONDS * later
        cell = run_cell(client.url, kind, at_once, rounds, cell_deadline, plain_conversations, greeting)
        cells[kind, at_once] = cell
        references.update(cell.references)
        print(
            f"  measured {kind} turns, {at_once} at once: {len(cell.timings)} turns in {cell.seconds:.1f} s"
            + (" (stopped at the time limit)" if cell.stopped_by_time_limit else ""),
            flush=True,
        )

    print(f"Measured; {load_average()}", flush=True)
    report_cells(cells, concurrency)
    report_tracker(client, domain, next(iter(cells["complaint", 1].references), None), plain_conversations[0])

    failures = [failure for cell in cells.values() for failure in cell.failures]
    check = check_database(url, references)
    print(
        f"\nComplaints in the database: {check.recorded}; filed by the conversations: {check.expected} "
        f"({WARM_UP_COMPLAINTS} warm-up + measured); recorded as filed (Delivery, order {ORDER_NUMBER}, "
        f"{EMAIL}): {check.as_filed}"
    )
    started = sum(len(cell.conversations) for cell in cells.values())
    finished = sum(len(cell.references) for cell in cells.values())
    if failures:
        print(f"FAILED: {len(failures)} conversations went wrong ({finished} of {started} filings finished):")
        print("\n".join(f"  {failure}" for failure in failures[:10]))
    if check.missing:
        print(f"FAILED: {len(check.missing)} references the assistant gave are not complaints as filed:")
        print("\n".join(f"  {missing}" for missing in check.missing[:10]))
    if check.recorded != check.expected:
        print(f"FAILED: {check.recorded} complaints recorded, {check.expected} expected")
    empty = [f"{kind} turns, {n} at once" for (kind, n), cell in cells.items() if not cell.durations]
    if empty:
        print(f"FAILED: nothing measured for {', '.join(empty)}")
    return None if failures or check.missing or check.recorded != check.expected or empty else cells


if __name__ == "__main__":
    main()
