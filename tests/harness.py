"""The assistant as tests and benchmarks run it: our action server and a Rasa server, on free ports.

Both processes are started the way ``make run`` starts them (the endpoints from
``channels.rasa``), and a small client speaks Rasa's HTTP API. Several such pairs can run as
replicas on one database and one Redis (``running_replicas``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from admin.training import TrainingSettings
from ccm.settings import Settings
from ccm_core.bootstrap import Core
from ccm_core.settings import CoreSettings
from channels.context import ChannelContext, channel_context
from channels.rasa import endpoints, rasa_server, write_endpoints
from channels.settings import RASA_URL, AssistantSettings, ChannelSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 240
BURST_ANSWER_SECONDS = 180
NOWHERE = "http://127.0.0.1:9"  # nothing listens there
# Every outside channel off, whatever the environment running the tests says.
CHANNELS_OFF = {"telegram_bot_token": "", "whatsapp_token": "", "slack_bot_token": "", "smtp_host": ""}


def product_settings(core: Core, rasa_url: str = NOWHERE, rasa_token: str = "", **channels: Any) -> Settings:
    """The product's settings for a test: the core's own, the assistant at ``rasa_url``, and the
    channels given (all others off)."""
    assistant = AssistantSettings(rasa_url=rasa_url, rasa_token=rasa_token)
    return Settings(
        core=core.settings,
        channels=ChannelSettings(**{**CHANNELS_OFF, **channels}),
        assistant=assistant,
        training=TrainingSettings(assistant=assistant),
    )


def with_channels(settings: Settings, **changes: Any) -> Settings:
    """The same settings with some channel settings changed."""
    return settings.model_copy(update={"channels": settings.channels.model_copy(update=changes)})


def context(core: Core, settings: Settings) -> ChannelContext:
    """What the channel adapters share, as the web server and the worker build it."""
    return channel_context(core, settings.channels, settings.assistant)


class RasaClient:
    """The parts of Rasa's HTTP API the product uses: talking as a customer, and external events."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30) -> None:
        self.url = (url or os.environ.get("CCM_RASA_URL") or RASA_URL).rstrip("/")
        token = token or os.environ.get("CCM_RASA_TOKEN")
        self.params = {"token": token} if token else {}
        self.http = httpx.Client(timeout=timeout)

    def say(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """A customer's message through the customer channel; returns the assistant's replies."""
        response = self.http.post(
            f"{self.url}/webhooks/customer/webhook",
            json={"sender": conversation_id, "message": text, "metadata": metadata or {}},
        )
        response.raise_for_status()
        return response.json()

    def trigger(self, conversation_id: str, intent: str, entities: dict[str, Any]) -> list[dict[str, Any]]:
        """An external event (a notice from the process) on the conversation; returns the replies."""
        response = self.http.post(
            f"{self.url}/conversations/{conversation_id}/trigger_intent",
            params=self.params,
            json={"name": intent, "entities": entities},
        )
        response.raise_for_status()
        return response.json().get("messages", [])

    def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of the conversation, all sessions, as Rasa's tracker API gives them."""
        response = self.http.get(
            f"{self.url}/conversations/{conversation_id}/tracker",
            params={**self.params, "include_events": "ALL"},
        )
        response.raise_for_status()
        return response.json()["events"]

    def close(self) -> None:
        self.http.close()


class AssistantUnavailable(RuntimeError):
    """The Rasa environment, its model or one of the two servers is missing or did not start."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(
    url: str, ready: Callable[[httpx.Response], bool], process: subprocess.Popen, log: Path
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssistantUnavailable(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready(httpx.get(url, timeout=2)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssistantUnavailable(f"{url} did not come up in {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


class AssistantProcesses:
    """Our action server and a Rasa server on free local ports, for tests and benchmarks.

    The Rasa environment and model are the ones ``make`` builds (``CCM_RASA_BIN``, ``CCM_RASA_MODEL``).
    Rasa can be killed and started again on the same port (the fault tests do). With ``CCM_REDIS_URL``
    in the environment Rasa keeps conversations in Redis, under ``redis_prefix``.
    """

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        redis_prefix: str = "ccm",
    ) -> None:
        given = {**os.environ, **(env or {})}  # ``env`` may name another model (a benchmark's baseline)
        rasa_bin, model = given.get("CCM_RASA_BIN"), given.get("CCM_RASA_MODEL")
        if not (rasa_bin and model and Path(rasa_bin).exists() and Path(model).exists()):
            raise AssistantUnavailable(
                "The Rasa environment or model is missing: run this through `make`, which builds them."
            )
        self.rasa_bin, self.model, self.workdir = rasa_bin, model, workdir
        self.action_port, self.rasa_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        self.environment = {
            **given,
            "CCM_DATABASE_URL": database_url,
            "CCM_DATA_DIR": str(workdir),
            "CCM_ACTION_SERVER_URL": f"http://127.0.0.1:{self.action_port}/webhook",
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        }
        config = endpoints(
            CoreSettings(
                data_dir=workdir, database_url=database_url, redis_url=given.get("CCM_REDIS_URL", "")
            ),
            AssistantSettings(action_server_url=self.environment["CCM_ACTION_SERVER_URL"]),
            key_prefix=redis_prefix,
        )
        self.endpoints_file = write_endpoints(workdir / "endpoints.yml", config)
        self.action_log, self.rasa_log = workdir / "actions.log", workdir / "rasa.log"
        self.actions: subprocess.Popen | None = None
        self.rasa: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> None:
        """Both servers; with ``wait=False`` they come up while the caller starts others."""
        self.actions = subprocess.Popen(
            [sys.executable, "-m", "actions", "--port", str(self.action_port)],
            cwd=PROJECT_ROOT,
            env=self.environment,
            stdout=self.action_log.open("a"),
            stderr=subprocess.STDOUT,
        )
        self.start_rasa(wait=False)
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self) -> None:
        assert self.actions is not None
        _wait_until_ready(
            f"http://127.0.0.1:{self.action_port}/health",
            lambda r: r.status_code == 200,
            self.actions,
            self.action_log,
        )
        self.wait_for_rasa()

    def start_rasa(self, wait: bool = True) -> None:
        self.rasa = subprocess.Popen(
            [
                *rasa_server(self.rasa_bin),
                "run",
                "--enable-api",
                "--model",
                self.model,
                "--endpoints",
                str(self.endpoints_file),
                "--credentials",
                "credentials.yml",
                "--port",
                str(self.rasa_port),
                "--interface",
                "127.0.0.1",
            ],
            cwd=PROJECT_ROOT / "rasa_project",
            env={**self.environment, "PYTHONPATH": str(PROJECT_ROOT / "rasa_project")},
            stdout=self.rasa_log.open("a"),
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_for_rasa()

    def wait_for_rasa(self) -> None:
        assert self.rasa is not None
        _wait_until_ready(
            f"{self.url}/status",
            lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
            self.rasa,
            self.rasa_log,
        )

    def kill_rasa(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no clean shutdown."""
        if self.rasa is not None:
            self.rasa.kill()
            self.rasa.wait()

    def stop(self) -> None:
        running = [p for p in (self.actions, self.rasa) if p is not None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running_assistant(
    database_url: str, workdir: Path, env: dict[str, str] | None = None
) -> Iterator[RasaClient]:
    """The action server and Rasa server of ``AssistantProcesses``, stopped on exit."""
    processes = AssistantProcesses(database_url, workdir, env)
    client = RasaClient(processes.url)
    try:
        processes.start()
        yield client
    finally:
        client.close()
        processes.stop()


@contextmanager
def running_replicas(
    database_url: str, workdir: Path, env: dict[str, str], replicas: int = 2, redis_prefix: str = "ccm"
) -> Iterator[list[RasaClient]]:
    """``replicas`` pairs of action server and Rasa server sharing one database and one Redis
    (``CCM_REDIS_URL`` in ``env``), as production runs several; all start at once, stopped on exit.

    The clients wait up to three minutes for an answer: a message of a burst queues behind its
    conversation's others, and on a loaded two-core machine their turns take seconds each.
    """
    group = [
        AssistantProcesses(database_url, workdir / f"replica-{n}", env, redis_prefix) for n in range(replicas)
    ]
    clients = [RasaClient(processes.url, timeout=BURST_ANSWER_SECONDS) for processes in group]
    try:
        for processes in group:
            processes.start(wait=False)
        for processes in group:
            processes.wait_until_ready()
        yield clients
    finally:
        for client in clients:
            client.close()
        for processes in group:
            processes.stop()


class RedisServer:
    """A redis-server of a test's own on a free port, which it may stop and start again.

    By default it keeps its data in an append-only file, as a production Redis holding
    conversations does, so a restart loses nothing that was written; ``persistent=False`` makes a
    restart lose everything (the fault run's worst case).
    """

    def __init__(self, directory: Path, persistent: bool = True) -> None:
        self.directory, self.port, self.persistent = directory, _free_port(), persistent
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        keep = ["--appendonly", "no"]
        if self.persistent:
            keep = ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *(*keep, "--dir", str(self.directory)),
            ],
            stdout=(self.directory / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        try:
            while True:
                try:
                    client.ping()  # also waits out a restart's loading of the append-only file
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL: a crash, not a clean shutdown (what was acknowledged is in the file)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self, down_seconds: float) -> None:
        """Stopped, ``down_seconds`` without Redis, started again on the same port."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def redis_server(directory: Path, persistent: bool = True) -> Iterator[RedisServer]:
    server = RedisServer(directory, persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()
