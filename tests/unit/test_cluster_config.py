"""``make run-cluster``'s layout, environment and configurations, read back as supervisord reads them.

Starting the cluster for real is tests/cluster/test_run_cluster.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from ccm.cluster import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    ClusterError,
    Layout,
    cluster_environment,
    ensure_database,
    render,
)

RASA_BIN, NGINX = "/opt/ccm/rasa/bin/rasa", "/usr/sbin/nginx"


def supervised(directory: Path) -> dict[str, dict[str, object]]:
    """Every program of the rendered supervisord.conf, as supervisord itself parses it."""
    options = ServerOptions()
    options.configfile = str(directory / "supervisord.conf")
    options.process_config(do_usage=False)
    return {
        f"{group.name}:{process.name}": {
            "command": process.command,
            "autorestart": process.autorestart,
            "directory": process.directory,
        }
        for group in options.process_group_configs
        for process in group.process_configs
    }


def upstream(nginx_conf: str, name: str) -> list[str]:
    block = re.search(rf"upstream {name} \{{(.*?)\}}", nginx_conf, re.S)
    assert block, name
    return re.findall(r"server (127\.0\.0\.1:\d+) max_fails=\d+ fail_timeout=\d+s;", block.group(1))


def test_every_replica_is_supervised_and_behind_nginx(tmp_path: Path) -> None:
    layout = Layout(directory=tmp_path, replicas=3)
    render(layout, RASA_BIN, NGINX)

    programs = supervised(tmp_path)
    expected = {f"{kind}:{kind}-{n}" for kind in ("web", "worker", "rasa", "actions") for n in (1, 2, 3)}
    assert set(programs) == expected | {"nginx:nginx"}
    # Restarted whenever it exits, however it died (kill -9 included).
    assert all(program["autorestart"] is RestartUnconditionally for program in programs.values())
    assert "--port 5007 --interface 127.0.0.1" in str(programs["rasa:rasa-3"]["command"])
    assert str(programs["rasa:rasa-3"]["directory"]).endswith("rasa_project")
    assert "serve --host 127.0.0.1 --port 8002" in str(programs["web:web-3"]["command"])

    nginx_conf = (tmp_path / "nginx.conf").read_text()
    web = ["127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002"]
    assert upstream(nginx_conf, "ccm_web") == upstream(nginx_conf, "ccm_web_chat") == web
    assert upstream(nginx_conf, "ccm_rasa") == ["127.0.0.1:5005", "127.0.0.1:5006", "127.0.0.1:5007"]
    assert upstream(nginx_conf, "ccm_actions") == ["127.0.0.1:5055", "127.0.0.1:5056", "127.0.0.1:5057"]
    assert "hash $binary_remote_addr consistent;" in nginx_conf
    assert "listen 127.0.0.1:8080;" in nginx_conf and "listen 127.0.0.1:8081;" in nginx_conf
    assert Layout.load(tmp_path) == layout  # what `ccm cluster status` reads


def test_pinned_replicas_run_each_on_its_own_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    layout = Layout(directory=tmp_path, replicas=3, pin=True)
    render(layout, RASA_BIN, NGINX)

    programs = supervised(tmp_path)
    for kind in ("web", "worker", "rasa", "actions"):
        for number, core in ((1, 0), (2, 1), (3, 0)):  # the machine's cores in turn
            command = str(programs[f"{kind}:{kind}-{number}"]["command"])
            assert re.match(rf"\S*taskset -c {core} ", command), command
    assert "taskset" not in str(programs["nginx:nginx"]["command"])  # it serves every replica
    assert "taskset" not in (tmp_path / "nginx.conf").read_text()
    assert Layout.load(tmp_path).pin
    render(Layout(directory=tmp_path, replicas=3), RASA_BIN, NGINX)
    assert not any("taskset" in str(program["command"]) for program in supervised(tmp_path).values())


@pytest.mark.parametrize(
    "changes",
    [{"replicas": 51}, {"port": 8001}, {"rasa_balancer_port": 5006}, {"replicas": 0}, {"web_port": 65535}],
)
def test_a_layout_whose_processes_would_share_a_port_is_refused(
    tmp_path: Path, changes: dict[str, int]
) -> None:
    with pytest.raises(ClusterError):
        Layout(directory=tmp_path, **changes).check()


def test_every_process_gets_the_shared_services_and_one_signing_key(tmp_path: Path) -> None:
    layout = Layout(directory=tmp_path, port=9080, rasa_balancer_port=9081, actions_balancer_port=9082)
    first = cluster_environment({"PATH": "/usr/bin", "CCM_REDIS_URL": ""}, layout)
    assert first["PATH"] == "/usr/bin"
    assert (first["CCM_DATABASE_URL"], first["CCM_REDIS_URL"]) == (DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    assert first["CCM_RASA_URL"] == "http://127.0.0.1:9081"
    assert first["CCM_ACTION_SERVER_URL"] == "http://127.0.0.1:9082/webhook"
    rasa_ports = [replica.port for replica in layout.rasa]
    assert first["CCM_RASA_REPLICAS"] == ",".join(f"http://127.0.0.1:{port}" for port in rasa_ports)
    assert len(rasa_ports) == 2  # a retrain loads its model into both, not into one the balancer picks
    assert first["CCM_PUBLIC_URL"] == "http://127.0.0.1:9080"
    key = (tmp_path / "secret.key").read_text().strip()
    assert first["CCM_SECRET_KEY"] == key == cluster_environment({}, layout)["CCM_SECRET_KEY"]

    given = {
        "CCM_DATABASE_URL": "postgresql://ccm@db.internal/ccm",
        "CCM_SECRET_KEY": "the operator's key",
        "CCM_PUBLIC_URL": "https://complaints.example.com",
        "CCM_RASA_URL": "http://elsewhere:5005",
    }
    chosen = cluster_environment(given, layout)
    assert {name: chosen[name] for name in given} == {**given, "CCM_RASA_URL": "http://127.0.0.1:9081"}


def test_the_database_must_be_postgresql() -> None:
    with pytest.raises(ClusterError, match="PostgreSQL"):
        ensure_database("sqlite:///var/ccm.db")
