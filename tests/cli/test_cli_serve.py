"""End to end: ``ccm serve`` as a process, a complaint posted over HTTP, found again with ``ccm``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.http_server import free_port

CCM = Path(sys.executable).parent / "ccm"
STARTUP_SECONDS = 30


def wait_until_healthy(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"ccm serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ccm serve did not answer /healthz within {STARTUP_SECONDS} s:\n{log.read_text()}")


def test_serve_takes_a_complaint_the_cli_then_finds(run_ccm_alone, base_env, tmp_path):
    assert run_ccm_alone("db", "upgrade").returncode == 0
    assert run_ccm_alone("seed").returncode == 0
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"

    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(CCM), "serve", "--port", str(port)],
            env={**os.environ, **base_env},
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(server, base_url, log)
            created = run_ccm_alone(
                "tokens", "create", "--role", "agent", "--staff", "lukas.schmidt@example.com"
            )
            assert created.returncode == 0, created.stderr
            token = created.stdout.strip().splitlines()[-1]

            response = httpx.post(
                f"{base_url}/api/v1/complaints",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "channel": "phone",
                    "language": "tr",
                    "category": "delivery",
                    "description": "Kargom hasarlı geldi",
                    "customer": {"name": "Ali Veli", "phone": "+90 532 000 00 00"},
                },
                timeout=10,
            )
            assert response.status_code in (200, 201), response.text
            reference = response.json()["reference"]

            shown = run_ccm_alone("complaints", "show", reference, "--json")
            assert shown.returncode == 0, shown.stderr
            case = json.loads(shown.stdout)
            assert (case["reference"], case["status"], case["department"]) == (
                reference,
                "received",
                "logistics",
            )
            assert case["description"] == "Kargom hasarlı geldi"
            assert case["customer"]["name"] == "Ali Veli"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def test_serve_says_which_channels_are_on_and_mounts_only_those(run_ccm_alone, base_env, tmp_path):
    assert run_ccm_alone("db", "upgrade").returncode == 0
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CCM_TELEGRAM_", "CCM_WHATSAPP_"))},
        **base_env,
        "CCM_TELEGRAM_BOT_TOKEN": "7012345678:AAHk3vQeR5fX0Zq2w9mB1sL8cT4yU6iPoJa",
    }
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(CCM), "serve", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=output,
            stderr=output,
        )
        try:
            wait_until_healthy(server, base_url, log)
            started = log.read_text()
            assert "web chat: on at /chat" in started
            assert "telegram: off (set CCM_TELEGRAM_WEBHOOK_SECRET to turn it on)" in started
            assert (
                "whatsapp: off (set CCM_WHATSAPP_TOKEN, CCM_WHATSAPP_PHONE_NUMBER_ID, "
                "CCM_WHATSAPP_APP_SECRET, CCM_WHATSAPP_VERIFY_TOKEN to turn it on)"
            ) in started
            assert "email: off (set CCM_SMTP_HOST, CCM_MAIL_FROM to turn it on)" in started
            assert (
                "mail intake: off (set CCM_IMAP_HOST, CCM_IMAP_USER, CCM_IMAP_PASSWORD, CCM_SMTP_HOST, "
                "CCM_MAIL_FROM to turn it on)"
            ) in started

            page = httpx.get(f"{base_url}/chat?lang=de", timeout=10)
            assert page.status_code == 200 and 'lang="de"' in page.text
            assert httpx.post(f"{base_url}/channels/telegram/webhook", json={}, timeout=10).status_code == 404
            assert httpx.get(f"{base_url}/channels/whatsapp/webhook", timeout=10).status_code == 404
        finally:
            server.terminate()
            server.wait(timeout=10)
