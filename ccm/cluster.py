"""The product as a cluster on one machine (``make run-cluster``): N replicas of every process behind nginx.

nginx is the one entry point, supervisord starts every replica and restarts one that dies; both
configurations are rendered from ``deploy/cluster/`` into the cluster's directory (``var/cluster``),
where the logs and supervisord's socket live too. The replicas share PostgreSQL, Redis and one
signing key, and reach Rasa and the action servers through nginx. The same topology on separate
hosts: docs/deploying.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import jinja2
import redis
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from supervisor.xmlrpc import SupervisorTransport

from ccm_core.adapters.db import normalise_url
from ccm_core.bootstrap import local_secret
from channels.rasa import rasa_server

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "deploy" / "cluster"
BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/ccm_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LAYOUT_FILE = "cluster.json"
LOOPBACK = "127.0.0.1"
# nginx's passive health checks, and the supervision of every replica (see the templates).
MAX_FAILS, FAIL_TIMEOUT = 2, "10s"
START_SECONDS, START_RETRIES, STOP_SECONDS = 5, 10, 20
# supervisord starts the lowest first and stops the highest first: nginx stops taking requests
# before the web servers stop, and the action servers go last, as Rasa calls them.
PRIORITY = {"actions": 100, "rasa": 200, "web": 300, "worker": 300, "nginx": 400}
RASA_READ_TIMEOUT = "600s"  # as long as a retrain waits for PUT /model (CCM_DEPLOY_TIMEOUT's default)


class ClusterError(Exception):
    """The cluster cannot start or be looked at; the message says why and what to do."""


@dataclass(frozen=True)
class Replica:
    name: str
    port: int


@dataclass(frozen=True)
class Layout:
    """Where each process of the cluster listens; saved beside the configurations for ``ccm cluster status``.

    Replicas of one kind take consecutive ports from the first: Rasa on 5005, 5006, … as ``make run``'s.
    """

    directory: Path
    replicas: int = 2
    host: str = LOOPBACK  # where nginx takes the product's requests
    port: int = 8080
    rasa_balancer_port: int = 8081  # nginx in front of the Rasa servers, loopback only
    actions_balancer_port: int = 8082  # nginx in front of the action servers, loopback only
    web_port: int = 8000
    rasa_port: int = 5005
    actions_port: int = 5055
    # Replica i's web server, Rasa server, action server and worker on core i (of the machine's cores,
    # in turn): a measurement of 1 against 2 replicas then compares one core with two.
    pin: bool = False

    def _replicas(self, kind: str, first: int) -> list[Replica]:
        return [Replica(f"{kind}-{number}", first + number - 1) for number in range(1, self.replicas + 1)]

    @property
    def web(self) -> list[Replica]:
        return self._replicas("web", self.web_port)

    @property
    def rasa(self) -> list[Replica]:
        return self._replicas("rasa", self.rasa_port)

    @property
    def actions(self) -> list[Replica]:
        return self._replicas("actions", self.actions_port)

    @property
    def workers(self) -> list[str]:
        return [f"worker-{number}" for number in range(1, self.replicas + 1)]

    @property
    def url(self) -> str:
        """The product's address: nginx's, as customers' links show it."""
        host = LOOPBACK if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def rasa_url(self) -> str:
        return f"http://{LOOPBACK}:{self.rasa_balancer_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://{LOOPBACK}:{self.actions_balancer_port}/webhook"

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    @property
    def socket(self) -> Path:
        return self.directory / "supervisor.sock"

    def check(self) -> None:
        """Refuse a layout whose processes would share a port, or that has none of them."""
        if self.replicas < 1:
            raise ClusterError("A cluster needs at least one replica of each process (REPLICAS=1 or more).")
        if self.pin and not find_taskset():
            raise ClusterError(
                "Pinning replicas to cores needs taskset (Debian: apt-get install util-linux)."
            )
        ports = [self.port, self.rasa_balancer_port, self.actions_balancer_port]
        ports += [replica.port for replica in (*self.web, *self.rasa, *self.actions)]
        if any(not 0 < port < 65536 for port in ports):
            raise ClusterError(f"Ports run from 1 to 65535; this layout needs {min(ports)}–{max(ports)}.")
        shared = sorted({port for port in ports if ports.count(port) > 1})
        if shared:
            raise ClusterError(
                f"Port {', '.join(map(str, shared))} would serve two processes: choose other first ports "
                "(--web-port, --rasa-port, --actions-port) or fewer replicas."
            )

    def save(self) -> None:
        values = {**asdict(self), "directory": str(self.directory)}
        (self.directory / LAYOUT_FILE).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Layout:
        try:
            values = json.loads((directory / LAYOUT_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClusterError(f"No cluster in {directory}: start one with `make run-cluster`.") from None
        return cls(**{**values, "directory": Path(values["directory"])})


def cluster_environment(given: Mapping[str, str], layout: Layout) -> dict[str, str]:
    """Every process's environment: the caller's, with the shared services and one signing key.

    PostgreSQL and Redis default to the local servers. A signing key is made once in the cluster's
    directory unless ``CCM_SECRET_KEY`` is set, so every replica signs and checks the same links.
    """
    environment = dict(given)
    environment["CCM_DATABASE_URL"] = given.get("CCM_DATABASE_URL") or DEFAULT_DATABASE_URL
    environment["CCM_REDIS_URL"] = given.get("CCM_REDIS_URL") or DEFAULT_REDIS_URL
    environment["CCM_SECRET_KEY"] = given.get("CCM_SECRET_KEY") or local_secret(layout.directory)
    environment["CCM_PUBLIC_URL"] = given.get("CCM_PUBLIC_URL") or layout.url
    environment["CCM_RASA_URL"] = layout.rasa_url
    # A retrain loads its model into each Rasa server, not into the one the balancer picks.
    environment["CCM_RASA_REPLICAS"] = ",".join(f"http://{LOOPBACK}:{rasa.port}" for rasa in layout.rasa)
    environment["CCM_ACTION_SERVER_URL"] = layout.action_server_url
    return environment


def ensure_database(url: str) -> bool:
    """Create the cluster's PostgreSQL database when it is missing; True when it was created."""
    target = make_url(normalise_url(url))
    if target.get_backend_name() != "postgresql" or not target.database:
        raise ClusterError("The cluster's replicas share a PostgreSQL database: set CCM_DATABASE_URL to one.")
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            known = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if known:
                return False
            name = server.dialect.identifier_preparer.quote(target.database)
            connection.execute(text(f"CREATE DATABASE {name}"))
            return True
    except SQLAlchemyError as exc:
        shown = target.render_as_string(hide_password=True)
        raise ClusterError(
            f"Cannot reach or create the database {shown} ({type(exc).__name__}); "
            "start PostgreSQL or set CCM_DATABASE_URL."
        ) from exc
    finally:
        server.dispose()


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ClusterError(
            f"Redis at {client.connection_pool.connection_kwargs.get('host')} is not reachable "
            f"({type(exc).__name__}); start it or set CCM_REDIS_URL."
        ) from exc
    finally:
        client.close()


def find_nginx() -> str:
    """Debian's nginx, also when /usr/sbin is not on a user's PATH."""
    found = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if not found:
        raise ClusterError(
            "nginx is missing: `make run-cluster` installs Debian's package when run as root; "
            "else install it (sudo apt-get install nginx)."
        )
    return found


def find_taskset() -> str | None:
    return shutil.which("taskset", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"]))


@dataclass(frozen=True)
class Program:
    """One program of the cluster, and how ``ccm cluster status`` sees that it answers."""

    name: str
    group: str
    port: int | None = None
    health_path: str | None = None
    replica: int | None = None  # 1, 2, …; None for nginx, which serves every replica


def programs(layout: Layout) -> list[Program]:
    """Every replica of the action server, Rasa server, web server and worker, and nginx, in start order."""
    return [
        *(
            Program(replica.name, "actions", replica.port, "/health", number)
            for number, replica in enumerate(layout.actions, 1)
        ),
        *(
            Program(replica.name, "rasa", replica.port, "/status", number)
            for number, replica in enumerate(layout.rasa, 1)
        ),
        *(
            Program(replica.name, "web", replica.port, "/healthz", number)
            for number, replica in enumerate(layout.web, 1)
        ),
        *(Program(name, "worker", replica=number) for number, name in enumerate(layout.workers, 1)),
        Program("nginx", "nginx", layout.port),
    ]


def core_of(replica: int) -> int:
    """The core replica ``replica`` (1, 2, …) is pinned to: the machine's cores in turn."""
    return (replica - 1) % (os.cpu_count() or 1)


@dataclass(frozen=True)
class Process:
    """A program as supervisord runs it."""

    name: str
    group: str
    command: str
    directory: Path
    environment: dict[str, str] = field(default_factory=dict)


def processes(layout: Layout, rasa_bin: str, nginx: str) -> list[Process]:
    """The command of every program: replicas listen on loopback only, nginx is the way in.

    A Rasa replica asks for the model to serve each time it starts, so one restarted after a
    retrain serves the deployed model.
    """
    ccm, endpoints = str(BIN / "ccm"), layout.directory / "rasa" / "endpoints.yml"
    rasa_environment = {"PYTHONPATH": str(ROOT / "rasa_project"), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    found = []
    for program in programs(layout):
        port = str(program.port)
        if program.group == "actions":
            command = shlex.join([sys.executable, "-m", "actions", "--port", port])
            found.append(Process(program.name, program.group, command, ROOT))
        elif program.group == "rasa":
            rasa = [*rasa_server(rasa_bin), "run", "--enable-api", "--endpoints", str(endpoints)]
            rasa += ["--credentials", "credentials.yml", "--port", port, "--interface", LOOPBACK]
            script = f'exec {shlex.join(rasa)} --model "$({shlex.quote(ccm)} nlu serving-model)"'
            script += ' ${CCM_RASA_TOKEN:+--auth-token "$CCM_RASA_TOKEN"}'
            command = shlex.join(["/bin/sh", "-c", script])
            rasa_dir = ROOT / "rasa_project"
            found.append(Process(program.name, program.group, command, rasa_dir, rasa_environment))
        elif program.group == "web":
            command = shlex.join([ccm, "serve", "--host", LOOPBACK, "--port", port])
            found.append(Process(program.name, program.group, command, ROOT))
        elif program.group == "worker":
            found.append(Process(program.name, program.group, shlex.join([ccm, "worker"]), ROOT))
        else:
            command = shlex.join([nginx, *_nginx_files(layout)])
            found.append(Process(program.name, program.group, command, ROOT))
    if layout.pin:
        found = [_pinned(process, program) for process, program in zip(found, programs(layout), strict=True)]
    return found


def _pinned(process: Process, program: Program) -> Process:
    """A replica's command run by ``taskset -c N``, which sets the core and execs it (its children inherit
    the core: Rasa's shell, uvicorn's). nginx, serving every replica, is not pinned."""
    if program.replica is None:
        return process
    taskset = shlex.join([find_taskset() or "taskset", "-c", str(core_of(program.replica))])
    return replace(process, command=f"{taskset} {process.command}")


def _nginx_files(layout: Layout) -> list[str]:
    """Its prefix, configuration and error log: all under the cluster's directory, so it runs without root."""
    nginx_dir, log = layout.directory / "nginx", layout.log_dir / "nginx-error.log"
    return ["-p", str(nginx_dir), "-c", str(layout.directory / "nginx.conf"), "-e", str(log)]


def render(layout: Layout, rasa_bin: str, nginx: str) -> None:
    """Write nginx.conf and supervisord.conf for ``layout`` into its directory (and the layout itself)."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # configuration files, not HTML
    )
    paths = [ROOT, layout.directory, Path(sys.executable), Path(rasa_bin), Path(nginx)]
    if any("%" in str(path) for path in paths):
        raise ClusterError(
            "supervisord reads '%' as the start of an expansion: run the cluster from paths without it."
        )
    for directory in (
        layout.directory,
        layout.log_dir,
        layout.directory / "nginx",
        layout.directory / "rasa",
    ):
        directory.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[str]] = {}
    for program in programs(layout):
        if program.group != program.name:
            groups.setdefault(program.group, []).append(program.name)
    values: dict[str, Any] = {
        "layout": layout,
        "root": ROOT,
        "run_dir": layout.directory,
        "log_dir": layout.log_dir,
        "nginx_dir": layout.directory / "nginx",
        "socket": layout.socket,
        "processes": processes(layout, rasa_bin, nginx),
        "groups": groups,
        "priority": PRIORITY,
        "max_fails": MAX_FAILS,
        "fail_timeout": FAIL_TIMEOUT,
        "rasa_read_timeout": RASA_READ_TIMEOUT,
        "start_seconds": START_SECONDS,
        "start_retries": START_RETRIES,
        "stop_seconds": STOP_SECONDS,
    }
    for name in ("nginx.conf", "supervisord.conf"):
        rendered = templates.get_template(f"{name}.j2").render(values)
        (layout.directory / name).write_text(rendered, encoding="utf-8")
    layout.save()


def check_nginx(nginx: str, layout: Layout) -> None:
    """``nginx -t`` on the rendered configuration, so a mistake stops the start with nginx's own words."""
    checked = subprocess.run([nginx, "-t", "-q", *_nginx_files(layout)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise ClusterError(f"nginx refuses its configuration: {checked.stderr.strip()}")


def prepare(layout: Layout, given: Mapping[str, str], say: Callable[[str], None]) -> dict[str, str]:
    """Everything before supervisord starts, as ``make run`` does it: the database created when missing,
    migrated and seeded on first run, Rasa's endpoints written, nginx's and supervisord's configurations
    rendered and checked. Returns the environment every process is to run in."""
    layout.check()
    if layout.socket.exists() and _running(layout):
        raise ClusterError(f"A cluster is already running from {layout.directory}: stop it first (Ctrl-C).")
    rasa_bin, model = given.get("CCM_RASA_BIN", ""), given.get("CCM_RASA_MODEL", "")
    if not (rasa_bin and Path(rasa_bin).exists() and model):
        raise ClusterError(
            "The Rasa environment or model is missing: start the cluster with `make run-cluster`, "
            "which builds them."
        )
    nginx = find_nginx()
    layout.directory.mkdir(parents=True, exist_ok=True)
    environment = cluster_environment(given, layout)
    check_redis(environment["CCM_REDIS_URL"])
    database = make_url(normalise_url(environment["CCM_DATABASE_URL"]))
    if ensure_database(environment["CCM_DATABASE_URL"]):
        say(f"==> Created the database {database.database}")
    say(f"==> Migrating the database {database.render_as_string(hide_password=True)}")
    _step([str(BIN / "ccm"), "db", "upgrade"], environment)
    _step([str(BIN / "ccm"), "seed", "--if-empty"], environment)
    endpoints = layout.directory / "rasa" / "endpoints.yml"
    _step([sys.executable, "-m", "channels.rasa", str(endpoints)], environment, quiet=True)
    render(layout, rasa_bin, nginx)
    check_nginx(nginx, layout)
    return environment


def _step(command: list[str], environment: dict[str, str], quiet: bool = False) -> None:
    """One command of the start; its own message says what went wrong."""
    done = subprocess.run(command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL if quiet else None)
    if done.returncode != 0:
        raise ClusterError(f"`{shlex.join(command[1:])}` failed (exit code {done.returncode}); see above.")


# --- ccm cluster status ---


@dataclass(frozen=True)
class Health:
    """One process as supervisord and its own health endpoint see it."""

    name: str
    state: str  # supervisord's: RUNNING, STARTING, BACKOFF, EXITED, FATAL, …
    pid: int
    address: str
    healthy: bool
    detail: str


def supervisor(layout: Layout) -> Any:
    """supervisord's XML-RPC interface on the cluster's socket."""
    transport = SupervisorTransport(None, None, f"unix://{layout.socket}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def process_states(layout: Layout) -> dict[str, dict[str, Any]]:
    """supervisord's view of every program, by name; the cluster must be running."""
    try:
        return {info["name"]: info for info in supervisor(layout).supervisor.getAllProcessInfo()}
    except OSError as exc:
        raise ClusterError(
            f"supervisord is not running for {layout.directory} ({type(exc).__name__}): "
            "start the cluster with `make run-cluster`."
        ) from exc


def _running(layout: Layout) -> bool:
    try:
        process_states(layout)
    except ClusterError:
        return False
    return True


def _answer(url: str, params: dict[str, str], wanted: str | None = None) -> tuple[bool, str]:
    try:
        response = httpx.get(url, params=params, timeout=3)
    except httpx.HTTPError as exc:
        return False, f"no answer ({type(exc).__name__})"
    if response.status_code != 200:
        return False, f"answered {response.status_code}"
    if wanted and not response.json().get(wanted):
        return False, f"no {wanted} yet"
    return True, "answers"


def cluster_health(layout: Layout, rasa_token: str = "") -> list[Health]:
    """Each program's state in supervisord and, where it has one, the answer of its health endpoint.

    A worker has no HTTP endpoint: it is healthy while supervisord keeps it running. nginx is healthy
    when the product, the Rasa servers and the action servers all answer through it.
    """
    states = process_states(layout)
    found = []
    for program in programs(layout):
        info = states.get(program.name, {})
        state, pid = str(info.get("statename", "UNKNOWN")), int(info.get("pid", 0))
        address = f"{LOOPBACK}:{program.port}" if program.port else "-"
        healthy, detail = state == "RUNNING", state.lower()
        if healthy and program.group == "nginx":
            address = f"{layout.host}:{layout.port}"
            healthy, detail = _through_nginx(layout)
        elif healthy and program.group == "rasa":
            token = {"token": rasa_token} if rasa_token else {}
            healthy, detail = _answer(f"http://{address}/status", token, wanted="model_file")
        elif healthy and program.health_path:
            healthy, detail = _answer(f"http://{address}{program.health_path}", {})
        found.append(Health(program.name, state, pid, address, healthy, detail))
    return found


def _through_nginx(layout: Layout) -> tuple[bool, str]:
    checks = {
        "the product": f"{layout.url}/healthz",
        "Rasa": f"{layout.rasa_url}/",
        "the action servers": f"http://{LOOPBACK}:{layout.actions_balancer_port}/health",
    }
    failed = []
    for what, url in checks.items():
        answers, detail = _answer(url, {})
        if not answers:
            failed.append(f"{what}: {detail}")
    return not failed, "; ".join(failed) or "answers for the product, Rasa and the action servers"
