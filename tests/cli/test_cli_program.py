"""The installed ``ccm`` program run as a real process, the way an operator and ``make run`` use it."""

from __future__ import annotations

import json

from ccm_core.adapters.migrations import current_revision
from ccm_core.domain.errors import NotFound
from ccm_core.service_layer import access


def test_db_upgrade_creates_a_fresh_sqlite_database(run_ccm_alone, tmp_path):
    database = tmp_path / "fresh" / "ccm.db"
    url = f"sqlite:///{database}"

    result = run_ccm_alone("db", "upgrade", env_overrides={"CCM_DATABASE_URL": url})

    assert result.returncode == 0, result.stderr
    assert database.is_file()
    assert current_revision(url) is not None
    again = run_ccm_alone("db", "upgrade", env_overrides={"CCM_DATABASE_URL": url})
    assert again.returncode == 0, again.stderr


def test_db_upgrade_on_unreachable_postgresql_is_one_line_and_exit_1(run_ccm_alone):
    result = run_ccm_alone(
        "db", "upgrade", env_overrides={"CCM_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/ccm"}
    )

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Cannot connect to the database at postgresql+psycopg://postgres@127.0.0.1:1/ccm")
    assert "Traceback" not in result.stderr


def test_seed(run_ccm, make_uow):
    result = run_ccm("seed")

    assert result.returncode == 0, result.stderr
    assert "6 departments" in result.stdout
    with make_uow() as uow:
        assert len(uow.organisation.departments()) == 6


def test_seed_if_empty_twice_loads_once(run_ccm, make_uow):
    first = run_ccm("seed", "--if-empty")
    second = run_ccm("seed", "--if-empty")

    assert first.returncode == 0, first.stderr
    assert "Loaded from" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "already loaded" in second.stdout
    assert "Loaded from" not in second.stdout
    with make_uow() as uow:
        assert len(uow.organisation.departments()) == 6


def test_tokens_create_prints_the_token_last(run_ccm, uow):
    result = run_ccm("tokens", "create", "--role", "lead", "--staff", "elif.kaya@example.com")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    actor = access.authenticate(uow, lines[-1])
    assert actor is not None
    assert (actor.label, actor.role) == ("staff:elif.kaya@example.com", "lead")


def test_tokens_create_agent_without_staff_exits_2(run_ccm, uow):
    result = run_ccm("tokens", "create", "--role", "agent")

    assert result.returncode == 2
    assert "--staff" in result.stderr
    assert "Traceback" not in result.stderr


def test_complaints_list_and_show_json(run_ccm, recorded, contact_traces):
    listing = run_ccm("complaints", "list", "--json")
    shown = run_ccm("complaints", "show", recorded["late"], "--json", "--timeline")

    assert listing.returncode == 0, listing.stderr
    items = json.loads(listing.stdout)["items"]
    assert [item["reference"] for item in items] == [
        recorded["refund"],
        recorded["billing"],
        recorded["late"],
    ]
    assert not any(trace in listing.stdout for trace in contact_traces)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert (case["reference"], case["status"], case["channel"]) == (recorded["late"], "received", "phone")
    assert case["customer"]["email"] == "ali.veli@example.org"
    assert case["timeline"][0]["what"] == "record"


def test_complaints_show_unknown_reference_exits_1(run_ccm, uow):
    result = run_ccm("complaints", "show", "CMP-2026-424242")

    assert result.returncode == 1
    assert result.stderr.strip() == NotFound(kind="complaint", key="CMP-2026-424242").message("en")
