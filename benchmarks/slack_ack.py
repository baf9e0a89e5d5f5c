"""How fast the staff's Slack app acknowledges a button click, with 1 staff member clicking and with 20.

Slack gives an app 3 seconds to answer an interaction request with HTTP 200; after that the user
sees an error, whatever the app does next. The product's web server (``ccm.web.create_app`` with
the Slack app on) runs for real, served by uvicorn in a thread, on a fresh database: a SQLite file
in a temporary directory, or with ``--database postgresql`` a database created on the server of
``CCM_TEST_POSTGRES_URL`` and dropped afterwards; migrated and seeded with the demo organisation
plus as many extra agents as it takes to have ``--staff`` Slack users. Slack's side runs in a
second process, so that it does not compete with the server for the interpreter: the staff
clicking (asyncio tasks with httpx) and the tests' stand-in for Slack's Web API
(``tests.fakes.slack``, real HTTP), which notes when each call arrives.

Each staff member has cases of their own department (recorded before the clock starts) and clicks
"Open" (``ccm_open``: the app opens the case in a modal, ``views.open``) and then "Take"
(``ccm_take``: the case becomes theirs, ``chat.postEphemeral`` says so) on one case after the other,
as Slack posts it: a signed ``block_actions`` request to ``POST /slack/events``. A click is timed
from sending the request to its response, and the next click follows at once, so 20 staff members
keep the server busy all the time (far more clicks than 20 people make): that round shows the
acknowledgement under saturation. Rounds: 1 staff member with ``--clicks`` clicks, then ``--staff``
members at once with ``--concurrent-clicks`` in all, each round also bounded by ``--time-limit``
(no click starts after it). Every response must be
200. After each round the benchmark waits for the work behind the acknowledgements (up to a
minute) and reports, separately, the time from the click until the fake Slack had its result;
every click must have had its result, and the takes must be in the audit trail.

    .venv/bin/python -m benchmarks.slack_ack [--database sqlite|postgresql] [--staff N]
        [--clicks N] [--concurrent-clicks N] [--time-limit S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text as sql

from benchmarks.lifecycle import fresh_database, milliseconds_at, table
from ccm.web import create_app
from ccm_core.adapters.db import DatabaseUnavailable
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import services
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels.slack import EVENTS_PATH, blocks
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack, channel_id, form, signed
from tests.harness import product_settings
from tests.http_server import serving

DATABASES = ("sqlite", "postgresql")
SLACK_ACK_LIMIT_SECONDS = 3.0  # Slack's limit for the 200; also how long a trigger_id stays valid
REQUEST_TIMEOUT_SECONDS = 30
RESULT_WAIT_SECONDS = 60  # for the work behind the last acknowledgements of a round
CASES_PER_MEMBER = 5
WARM_UP_CLICKS = 10
START_SECONDS = 60  # for the Slack side's process to start
APP_ID = "A0CCMAPP1"
EXTRA_LOCALES = ("en", "de", "tr")


@dataclass(frozen=True)
class Member:
    """A staff member in Slack with the cases of their department that they click on."""

    slack_id: str
    locale: str
    department: str
    channel: str  # the department's channel, as Slack names it (#ccm-logistics)
    cases: list[str] = field(default_factory=list)


@dataclass
class Click:
    member: Member
    action_id: str
    reference: str
    trigger_id: str
    sent: float = 0.0
    acked: float | None = None
    status: int | None = None
    error: str | None = None
    result: float | None = None  # when the fake Slack had the click's views.open or ephemeral

    @property
    def ack_seconds(self) -> float | None:
        return None if self.acked is None else self.acked - self.sent


@dataclass
class Round:
    name: str
    members: int
    planned: int
    clicks: list[Click] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by_time_limit: bool = False
    unexpected: list[str] = field(default_factory=list)  # refusals and other messages nobody asked for

    @property
    def acked(self) -> list[Click]:
        return [click for click in self.clicks if click.status == 200]

    @property
    def not_ok(self) -> list[Click]:
        return [click for click in self.clicks if click.status != 200]


class TimedSlack(FakeSlack):
    """The tests' fake Slack Web API, with the time each call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self._stamps_lock = threading.Lock()
        self.stamped: list[tuple[float, str, dict[str, Any]]] = []

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._stamps_lock:
            self.stamped.append((time.perf_counter(), method, params))
        return super().answer(method, params)

    def since(self, position: int) -> list[tuple[float, str, dict[str, Any]]]:
        with self._stamps_lock:
            return self.stamped[position:]

    def position(self) -> int:
        with self._stamps_lock:
            return len(self.stamped)


# --- the organisation and the cases ---


def organisation(staff: int, workdir: Path) -> tuple[list[Member], Path | None]:
    """The demo organisation's Slack users, and extra agents (a seed file of their own) up to ``staff``."""
    demo = yaml.safe_load(DEMO_ORGANISATION.read_text(encoding="utf-8"))
    channels = {d["code"]: d["slack_channel"] for d in demo["departments"] if d.get("slack_channel")}
    members = [
        Member(
            entry["slack_user_id"],
            entry.get("locale", "en"),
            entry["department"],
            channels[entry["department"]],
        )
        for entry in demo["staff"]
        if entry.get("slack_user_id") and entry.get("active", True) and entry.get("department") in channels
    ][:staff]
    extra = []
    departments = list(channels)
    for number in range(staff - len(members)):
        department = departments[number % len(departments)]
        slack_id = f"U0BENCH{number + 1:02d}"
        locale = EXTRA_LOCALES[number % len(EXTRA_LOCALES)]
        extra.append(
            {
                "email": f"bench.agent{number + 1}@example.com",
                "name": f"Bench Agent {number + 1}",
                "role": "agent",
                "department": department,
                "locale": locale,
                "slack_user_id": slack_id,
            }
        )
        members.append(Member(slack_id, locale, department, channels[department]))
    if not extra:
        return members, None
    path = workdir / "bench-staff.yaml"
    path.write_text(yaml.safe_dump({"staff": extra}, allow_unicode=True), encoding="utf-8")
    return members, path


def record_cases(core: Core, members: Sequence[Member]) -> None:
    """``CASES_PER_MEMBER`` complaints for each member, in a category their department handles."""
    demo = yaml.safe_load(DEMO_ORGANISATION.read_text(encoding="utf-8"))
    category_of: dict[str, str] = {}
    for entry in demo["categories"]:
        if entry.get("active", True):
            category_of.setdefault(entry["department"], entry["code"])
    for number, member in enumerate(members):
        for case in range(CASES_PER_MEMBER):
            recorded = services.record_complaint(
                core.unit_of_work(),
                Actor.system("intake"),
                channel="phone",
                language=("tr", "en", "de")[case % 3],
                category=category_of[member.department],
                description=f"Benchmark complaint {number}-{case}: nobody answers the phone.",
                customer=CustomerDetails(
                    name=f"Customer {number}-{case}", email=f"c{number}x{case}@example.com"
                ),
            )
            member.cases.append(recorded.case.reference)


# --- clicking ---


def block_actions(member: Member, action_id: str, reference: str, trigger_id: str, response_url: str) -> dict:
    """A button click on a case's message in the department's channel, as Slack posts it."""
    now = time.time()
    channel = channel_id(member.channel)
    return {
        "type": "block_actions",
        "user": {"id": member.slack_id, "username": member.slack_id.lower(), "team_id": TEAM},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": f"{int(now) - 60}.000100",
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": TEAM, "domain": "ccm"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": member.channel.lstrip("#")},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"case:{reference}",
                "text": {"type": "plain_text", "text": action_id.removeprefix("ccm_").title(), "emoji": True},
                "value": reference,
                "type": "button",
                "action_ts": f"{now:.6f}",
            }
        ],
    }


async def click(
    http: httpx.AsyncClient, url: str, slack: TimedSlack, member: Member, action_id: str, reference: str
) -> Click:
    trigger_id = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
    done = Click(member, action_id, reference, trigger_id)
    payload = block_actions(
        member, action_id, reference, trigger_id, f"{slack.url}/respond/{uuid.uuid4().hex}"
    )
    body = form(payload)
    headers = {**signed(body), "Content-Type": "application/x-www-form-urlencoded"}
    done.sent = time.perf_counter()
    try:
        response = await http.post(url, content=body, headers=headers)
        done.acked = time.perf_counter()
        done.status = response.status_code
        if response.status_code != 200:
            done.error = f"HTTP {response.status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        done.error = f"{type(exc).__name__}: {exc}"
    return done


def plan(member: Member, clicks: int) -> list[tuple[str, str]]:
    """Open a case, take it, on to the next of the member's cases (round and round)."""
    steps = []
    for number in range(clicks):
        reference = member.cases[(number // 2) % len(member.cases)]
        steps.append(("ccm_open" if number % 2 == 0 else "ccm_take", reference))
    return steps


async def run_round(
    name: str, url: str, slack: TimedSlack, members: Sequence[Member], clicks: int, time_limit: float
) -> Round:
    """``members`` clicking at once, ``clicks`` in all, each after their previous click's acknowledgement."""
    result = Round(name, len(members), clicks)
    shares = [clicks // len(members) + (1 if n < clicks % len(members) else 0) for n in range(len(members))]
    limits = httpx.Limits(max_connections=len(members) + 5, max_keepalive_connections=len(members) + 5)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as http:
        start = time.perf_counter()
        deadline = start + time_limit

        async def staff_member(member: Member, share: int) -> None:
            for action_id, reference in plan(member, share):
                if time.perf_counter() > deadline:
                    result.stopped_by_time_limit = True
                    return
                result.clicks.append(await click(http, url, slack, member, action_id, reference))

        await asyncio.gather(*(staff_member(m, s) for m, s in zip(members, shares, strict=True) if s))
        result.seconds = time.perf_counter() - start
    return result


# --- the work after the acknowledgement ---


def done_text(member: Member, reference: str) -> str:
    """What the app tells a staff member who took a case (``StaffApp.refresh`` for a channel message)."""
    return blocks.t(
        member.locale, "done", reference=reference, command=blocks.command_name(member.locale, "take")
    )


def match_results(slack: TimedSlack, position: int, clicks: Sequence[Click]) -> list[str]:
    """Give each click the time its result reached the fake Slack; returns the calls no click asked for."""
    opens = {c.trigger_id: c for c in clicks if c.action_id == "ccm_open" and c.status == 200}
    takes: dict[tuple[str, str], deque[Click]] = defaultdict(deque)
    for c in sorted(
        (c for c in clicks if c.action_id == "ccm_take" and c.status == 200), key=lambda c: c.sent
    ):
        takes[(c.member.slack_id, done_text(c.member, c.reference))].append(c)
    unexpected = []
    for stamp, method, params in slack.since(position):
        if method == "views.open" and params.get("trigger_id") in opens:
            opened = opens.pop(params["trigger_id"])
            if opened.result is None:
                opened.result = stamp
        elif method == "chat.postEphemeral" and takes.get((params.get("user", ""), params.get("text", ""))):
            takes[(params["user"], params["text"])].popleft().result = stamp
        elif method != "views.update":  # views.update fills an opened modal with the case
            shown = {k: params.get(k) for k in ("channel", "user", "text", "trigger_id") if params.get(k)}
            unexpected.append(f"{method} {json.dumps(shown, ensure_ascii=False)[:200]}")
    return unexpected


async def wait_for_results(slack: TimedSlack, position: int, clicks: Sequence[Click]) -> float:
    """Until every acknowledged click has its result (or ``RESULT_WAIT_SECONDS``); the seconds waited."""
    expected = sum(1 for c in clicks if c.status == 200)
    start = time.perf_counter()
    while time.perf_counter() - start < RESULT_WAIT_SECONDS:
        results = [call for call in slack.since(position) if call[1] in ("views.open", "chat.postEphemeral")]
        if len(results) >= expected:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # anything more (a refusal after a result, say) arrives too
    return time.perf_counter() - start


# --- the run ---


@dataclass
class Run:
    database: str
    version: str
    rounds: list[Round]
    takes_expected: int
    takes_recorded: int


async def measure(
    url: str, slack: TimedSlack, members: list[Member], clicks: int, concurrent_clicks: int, time_limit: float
) -> tuple[list[Round], int]:
    """The warm-up, then the two rounds; returns the rounds and the acknowledged takes (warm-up's too)."""
    position = slack.position()
    warm = await run_round("warm-up", url, slack, members[:1], WARM_UP_CLICKS, time_limit)
    await wait_for_results(slack, position, warm.clicks)
    takes = sum(1 for c in warm.acked if c.action_id == "ccm_take")
    rounds = []
    for name, crowd, count in (
        ("1 staff member", members[:1], clicks),
        (f"{len(members)} staff members", members, concurrent_clicks),
    ):
        position = slack.position()
        done = await run_round(name, url, slack, crowd, count, time_limit)
        await wait_for_results(slack, position, done.clicks)
        done.unexpected = match_results(slack, position, done.clicks)
        takes += sum(1 for c in done.acked if c.action_id == "ccm_take")
        rounds.append(done)
    return rounds, takes


class SlackSideFailed(RuntimeError):
    pass


def slack_side(connection: Connection) -> None:
    """Slack, in a process of its own: its Web API (the fake) and the staff clicking in it."""
    slack = TimedSlack()
    with serving(slack.asgi()) as slack_url:
        slack.url = slack_url
        connection.send(slack_url)
        try:
            job = connection.recv()
        except EOFError:
            return
        connection.send(asyncio.run(measure(slack=slack, **job)))


def receive(connection: Connection, seconds: float, what: str) -> Any:
    if not connection.poll(seconds):
        raise SlackSideFailed(f"the Slack side did not {what} within {seconds:.0f} s")
    try:
        return connection.recv()
    except EOFError:
        raise SlackSideFailed("the Slack side stopped (its error is above)") from None


def run(kind: str, staff: int, clicks: int, concurrent_clicks: int, time_limit: float) -> Run:
    with fresh_database(kind) as url, tempfile.TemporaryDirectory(prefix="ccm-bench-") as workdir:
        upgrade(url)
        core = bootstrap(CoreSettings(data_dir=Path(workdir), database_url=url))
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        side = context.Process(target=slack_side, args=(theirs,), name="ccm-bench-slack", daemon=True)
        try:
            seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
            members, extra = organisation(staff, Path(workdir))
            if extra is not None:
                seed_organisation(core.unit_of_work(), extra)
            record_cases(core, members)
            version = ".".join(map(str, core.engine.dialect.server_version_info or ()))
            side.start()
            theirs.close()  # the child's end: if the child dies, ours reads end-of-file at once
            slack_url = receive(ours, START_SECONDS, "start")
            settings = product_settings(
                core,
                slack_bot_token=BOT_TOKEN,
                slack_signing_secret=SIGNING_SECRET,
                slack_mode="http",
                slack_api_url=f"{slack_url}/api/",
            )
            with serving(create_app(core, settings)) as base:
                ours.send(
                    {
                        "url": f"{base}{EVENTS_PATH}",
                        "members": members,
                        "clicks": clicks,
                        "concurrent_clicks": concurrent_clicks,
                        "time_limit": time_limit,
                    }
                )
                budget = 3 * (time_limit + REQUEST_TIMEOUT_SECONDS + RESULT_WAIT_SECONDS + 1)
                rounds, takes = receive(ours, budget, "finish")
            with core.engine.connect() as connection:
                recorded = connection.execute(
                    sql("SELECT count(*) FROM audit_events WHERE action = 'take'")
                ).scalar_one()
        finally:
            ours.close()
            if side.pid is not None:
                side.join(timeout=15)
                if side.is_alive():
                    side.terminate()
                    side.join(timeout=5)
            core.engine.dispose()
    return Run(kind, version, rounds, takes, recorded)


# --- the report ---


def figures(durations: Sequence[float]) -> list[str]:
    if not durations:
        return ["-", "-", "-"]
    return [
        f"{milliseconds_at(durations, 50):.1f}",
        f"{milliseconds_at(durations, 95):.1f}",
        f"{max(durations) * 1000:.1f}",
    ]


def report(result: Run) -> tuple[list[str], bool]:
    """The printed lines, and whether everything that must hold held."""
    where = "fresh file in a temporary directory" if result.database == "sqlite" else "fresh database"
    limit_ms = f"{SLACK_ACK_LIMIT_SECONDS * 1000:,.0f} ms"
    lines = [
        f"{result.database} {result.version} ({where})",
        "",
        f"  Acknowledgement (HTTP 200 to the signed block_actions request); Slack's limit: {limit_ms}",
    ]
    ok = True
    rows = [["round", "clicks", "not 200", "p50 ms", "p95 ms", "max ms", "clicks/s", "over 3 s"]]
    for done in result.rounds:
        acks = [c.ack_seconds for c in done.acked if c.ack_seconds is not None]
        over = sum(1 for seconds in acks if seconds > SLACK_ACK_LIMIT_SECONDS)
        ok &= not done.not_ok and not over and len(done.clicks) == done.planned
        rows.append(
            [
                done.name,
                f"{len(done.clicks)}/{done.planned}",
                str(len(done.not_ok)),
                *figures(acks),
                f"{len(done.acked) / done.seconds:.1f}" if done.seconds else "-",
                str(over),
            ]
        )
    lines += ["  " + line for line in table(rows)]
    lines += [
        "",
        "  After the acknowledgement: from the click until the fake Slack had its result "
        "(open: views.open, take: chat.postEphemeral);",
        f"  an opening later than {limit_ms} after the click fails on Slack (the trigger_id has expired);",
        "  before 200: results that reached the fake Slack before the click's 200 reached the clicker",
    ]
    rows = [["round", "click", "results", "p50 ms", "p95 ms", "max ms", "over 3 s", "before 200"]]
    for done in result.rounds:
        for action_id in ("ccm_open", "ccm_take"):
            acked = [c for c in done.acked if c.action_id == action_id]
            arrived = [c for c in acked if c.result is not None]
            durations = [c.result - c.sent for c in arrived if c.result is not None]
            ok &= len(arrived) == len(acked)
            rows.append(
                [
                    done.name,
                    action_id.removeprefix("ccm_"),
                    f"{len(arrived)}/{len(acked)}",
                    *figures(durations),
                    str(sum(1 for seconds in durations if seconds > SLACK_ACK_LIMIT_SECONDS)),
                    str(sum(1 for c in arrived if c.acked is not None and c.result < c.acked)),
                ]
            )
    lines += ["  " + line for line in table(rows)]
    for done in result.rounds:
        if done.stopped_by_time_limit:
            lines.append(f"  {done.name}: stopped by the time limit after {len(done.clicks)} clicks")
        for failed in done.not_ok[:5]:
            lines.append(
                f"  {done.name}: {failed.action_id} {failed.reference} "
                f"by {failed.member.slack_id}: {failed.error}"
            )
        for message in done.unexpected[:5]:
            lines.append(f"  {done.name}: unexpected Slack call: {message}")
        if len(done.unexpected) > 5:
            lines.append(f"  {done.name}: … {len(done.unexpected) - 5} more unexpected Slack calls")
        ok &= not done.unexpected
    lines.append(
        f"  takes in the audit trail: {result.takes_recorded} of {result.takes_expected} acknowledged "
        "(warm-up included)"
    )
    ok &= result.takes_recorded == result.takes_expected
    return lines, ok


def load_average() -> str:
    """The 1-minute load average, flagged when other work competes for the CPUs."""
    load = os.getloadavg()[0]
    busy = load > 0.5 * (os.cpu_count() or 1)
    flag = " (busy: other processes compete with the benchmark)" if busy else ""
    return f"load average {load:.2f}{flag}"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slack_ack", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--database", choices=DATABASES, default="sqlite", help="default sqlite")
    parser.add_argument("--staff", type=int, default=20, help="staff members clicking at once (default 20)")
    parser.add_argument(
        "--clicks", type=int, default=100, help="clicks of the single staff member (default 100)"
    )
    parser.add_argument(
        "--concurrent-clicks", type=int, default=400, help="clicks in all when everybody clicks (default 400)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=120, help="seconds per round at most (default 120)"
    )
    arguments = parser.parse_args(argv)
    for name in ("staff", "clicks", "concurrent_clicks"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if arguments.staff > 100:
        parser.error("--staff is at most 100")
    if arguments.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    print(
        f"CCM Slack app: button clicks acknowledged by POST {EVENTS_PATH}, 1 staff member "
        f"({arguments.clicks} clicks) and {arguments.staff} at once ({arguments.concurrent_clicks} clicks)"
    )
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {load_average()} at start"
    )
    print(
        "The web server runs in this process; the clicking staff and the fake Slack Web API in another one."
    )
    try:
        result = run(
            arguments.database,
            arguments.staff,
            arguments.clicks,
            arguments.concurrent_clicks,
            arguments.time_limit,
        )
    except DatabaseUnavailable as exc:
        sys.exit(f"{exc} (The benchmark's PostgreSQL server is set by CCM_TEST_POSTGRES_URL.)")
    except SlackSideFailed as exc:
        sys.exit(str(exc))
    lines, ok = report(result)
    print()
    print("\n".join(lines))
    print(f"{load_average()} at the end")
    if not ok:
        print(
            "Not every planned click was made, acknowledged in time with 200 and carried out; see above.",
            file=sys.stderr,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
