"""The ``ccm`` commands run in process (typer's CliRunner) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from ccm_core.domain.errors import NotFound, ValidationFailed
from ccm_core.service_layer import access
from ccm_core.service_layer.mail_intake import MailFile
from ccm_core.settings import DEMO_ORGANISATION
from tests.service.helpers import mailed_case

UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/ccm"


def demo_counts() -> str:
    data = yaml.safe_load(DEMO_ORGANISATION.read_text(encoding="utf-8"))
    rules = sum(len(steps) for steps in data["sla"].values())
    return (
        f"{len(data['departments'])} departments, {len(data['staff'])} staff, "
        f"{len(data['categories'])} categories (routing), {rules} SLA rules"
    )


# --- db upgrade, seed ---


def test_db_upgrade_on_a_migrated_database_changes_nothing(invoke):
    result = invoke("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "has the current schema" in result.stdout


def test_seed_loads_the_demo_organisation_and_says_how_much(invoke, make_uow):
    result = invoke("seed")

    assert result.exit_code == 0, result.output
    assert demo_counts() in result.stdout
    with make_uow() as uow:
        assert uow.organisation.department("logistics") is not None
        assert uow.organisation.category("delivery").department.code == "logistics"
        assert uow.organisation.staff_by_email("elif.kaya@example.com").role == "lead"


def test_seed_if_empty_leaves_a_loaded_organisation_alone(invoke, uow):
    result = invoke("seed", "--if-empty")

    assert result.exit_code == 0, result.output
    assert "already loaded" in result.stdout
    assert "nothing to do" in result.stdout


def test_seed_reads_the_file_it_is_given(invoke, tmp_path, make_uow):
    own = tmp_path / "organisation.yaml"
    own.write_text(
        yaml.safe_dump(
            {
                "departments": [{"code": "kitchen", "names": {"en": "Kitchen"}}],
                "staff": [{"email": "chef@example.com", "role": "lead", "department": "kitchen"}],
                "categories": [{"code": "food", "department": "kitchen"}],
                "sla": {"*": {"acknowledge": 2}},
            }
        ),
        encoding="utf-8",
    )

    result = invoke("seed", "--file", str(own))

    assert result.exit_code == 0, result.output
    assert "1 departments, 1 staff, 1 categories (routing), 1 SLA rules" in result.stdout
    with make_uow() as uow:
        assert [department.code for department in uow.organisation.departments()] == ["kitchen"]


def test_seed_names_a_missing_file(invoke, tmp_path):
    result = invoke("seed", "--file", str(tmp_path / "missing.yaml"))

    assert result.exit_code == 1
    assert "missing.yaml does not exist" in result.stderr


def test_seed_reports_an_organisation_file_the_process_cannot_accept(invoke, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "departments:\n  - {code: kitchen}\nstaff:\n  - {email: cook@example.com, role: agent}\n",
        encoding="utf-8",
    )

    result = invoke("seed", "--file", str(broken))

    assert result.exit_code == 1
    expected = ValidationFailed(field="staff cook@example.com: department", problem="required")
    assert result.stderr.strip() == expected.message("en")


def test_seed_reports_a_file_that_is_not_yaml(invoke, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("departments: [unclosed\n", encoding="utf-8")

    result = invoke("seed", "--file", str(broken))

    assert result.exit_code == 1
    assert "is not valid YAML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- tokens ---


def test_admin_token_needs_no_staff_and_authenticates(invoke, uow):
    result = invoke("tokens", "create", "--role", "admin", "--name", "erp-import")

    assert result.exit_code == 0, result.output
    *explanation, token = result.stdout.strip().splitlines()
    assert "erp-import" in explanation[0]
    actor = access.authenticate(uow, token)
    assert actor is not None
    assert (actor.label, actor.role) == ("token:erp-import", "admin")


def test_agent_token_acts_as_its_staff_member(invoke, uow):
    result = invoke("tokens", "create", "--role", "agent", "--staff", "lukas.schmidt@example.com")

    assert result.exit_code == 0, result.output
    actor = access.authenticate(uow, result.stdout.strip().splitlines()[-1])
    assert actor is not None
    assert (actor.label, actor.role) == ("staff:lukas.schmidt@example.com", "agent")


def test_agent_token_without_staff_is_refused_with_the_catalogue_message(invoke, uow):
    result = invoke("tokens", "create", "--role", "agent")

    assert result.exit_code == 2
    expected = ValidationFailed(field="staff", problem="needs_staff", role="agent").message("en")
    assert result.stderr.strip() == expected
    assert result.stdout == ""


def test_token_for_unknown_staff_is_refused(invoke, uow):
    result = invoke("tokens", "create", "--role", "lead", "--staff", "nobody@example.com")

    assert result.exit_code == 2
    assert result.stderr.strip() == NotFound(kind="staff", key="nobody@example.com").message("en")


def test_token_role_must_be_one_of_the_roles(invoke, uow):
    result = invoke("tokens", "create", "--role", "owner")

    assert result.exit_code == 2
    assert "owner" in result.stderr


# --- complaints list ---


def test_list_shows_a_table_without_customer_details(invoke, recorded, contact_traces):
    result = invoke("complaints", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "REFERENCE",
        "STATUS",
        "DEPARTMENT",
        "CATEGORY",
        "CHANNEL",
        "PRIORITY",
        "RECEIVED",
        "(UTC)",
    ]
    assert [line.split()[0] for line in lines[1:4]] == [
        recorded["refund"],
        recorded["billing"],
        recorded["late"],
    ]
    assert lines[3].split()[1:] == [
        "received",
        "logistics",
        "delivery",
        "phone",
        "normal",
        "2020-03-02",
        "09:00",
        "OVERDUE",
    ]
    assert lines[-1] == "3 of 3 shown."
    assert not any(trace in result.output for trace in contact_traces)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--status", "in_review"], ["refund"]),
        (["--status", "received"], ["billing", "late"]),
        (["--department", "finance"], ["refund", "billing"]),
        (["--channel", "phone"], ["late"]),
        (["--category", "billing"], ["billing"]),
        (["--overdue"], ["late"]),
        (["--department", "finance", "--status", "received"], ["billing"]),
        (["--department", "quality"], []),
    ],
)
def test_list_filters(invoke, recorded, options, expected):
    result = invoke("complaints", "list", "--json", *options)

    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [item["reference"] for item in listing["items"]] == [recorded[name] for name in expected]
    assert listing["total"] == len(expected)


def test_list_json_has_items_total_and_iso_dates(invoke, recorded, contact_traces):
    result = invoke("complaints", "list", "--json", "--limit", "1")

    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["total"] == 3
    [item] = listing["items"]
    assert item["reference"] == recorded["refund"]
    assert item["status"] == "in_review"
    assert dt.datetime.fromisoformat(item["received_at"]) == dt.datetime(2100, 3, 1, 9, 5, tzinfo=dt.UTC)
    assert item["overdue"] is False
    assert not any(trace in result.output for trace in contact_traces)


def test_list_says_when_nothing_matches(invoke, uow):
    result = invoke("complaints", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "No complaints match."


def test_list_refuses_an_unknown_status(invoke, uow):
    result = invoke("complaints", "list", "--status", "lost")

    assert result.exit_code == 2
    assert "lost" in result.stderr


# --- complaints show ---


def test_show_gives_the_whole_case_with_contact_details(invoke, recorded):
    result = invoke("complaints", "show", recorded["late"].lower())

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.splitlines()[0] == recorded["late"]
    assert "Creating a complaint record (received)" in text
    assert "Ali Veli, ali.veli@example.org, +905320000000" in text
    assert "Kargom hasarlı geldi" in text
    assert "BREACHED" in text
    assert "start the review (03)" in text
    assert "Timeline" not in text


def test_show_lists_the_files_the_customer_sent_and_which_were_refused(invoke, uow):
    reference = mailed_case(
        uow,
        MailFile("Şubat faturası.pdf", "application/pdf", b"%PDF-1.4" + b" " * 1_499_992),
        MailFile("video kaydı.mp4", "video/mp4", b"\x00" * 4_200_000),
        text="Merhaba, siparişim hasarlı geldi.",
    )

    result = invoke("complaints", "show", reference)

    assert result.exit_code == 0, result.output
    assert (
        "\nFiles the customer sent\n"
        "  • Şubat faturası.pdf (application/pdf, 1.5 MB)\n"
        "  • video kaydı.mp4 (video/mp4, 4.2 MB) — refused (too_large)\n"
    ) in result.stdout


def test_show_timeline_lists_what_happened(invoke, recorded):
    result = invoke("complaints", "show", recorded["refund"], "--timeline")

    assert result.exit_code == 0, result.output
    timeline = result.stdout.split("\nTimeline\n")[1]
    assert "received → in_review" in timeline
    assert "start_review" in timeline
    assert "acknowledgement (pending, web)" in timeline


def test_show_json_with_timeline(invoke, recorded):
    result = invoke("complaints", "show", recorded["refund"], "--json", "--timeline")

    assert result.exit_code == 0, result.output
    case = json.loads(result.stdout)
    assert case["reference"] == recorded["refund"]
    assert case["status"] == "in_review"
    assert case["department"] == "finance"
    assert dt.datetime.fromisoformat(case["timestamps"]["review_started_at"]).year == 2100
    assert [entry["what"] for entry in case["timeline"] if entry["kind"] == "audit"] == [
        "record",
        "start_review",
    ]
    assert all(dt.datetime.fromisoformat(entry["at"]) for entry in case["timeline"])


def test_show_json_without_timeline_has_none(invoke, recorded):
    result = invoke("complaints", "show", recorded["billing"], "--json")

    assert result.exit_code == 0, result.output
    case = json.loads(result.stdout)
    assert case["customer"] == {"name": None, "email": None, "phone": None, "erased": False}
    assert "timeline" not in case


def test_show_unknown_reference_fails_with_the_not_found_message(invoke, uow):
    result = invoke("complaints", "show", "CMP-2026-999999")

    assert result.exit_code == 1
    assert result.stderr.strip() == NotFound(kind="complaint", key="CMP-2026-999999").message("en")
    assert result.stdout == ""


# --- databases that are not ready ---


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["seed"],
        ["tokens", "create", "--role", "admin"],
        ["complaints", "list"],
        ["complaints", "show", "CMP-2026-000001"],
        ["serve", "--port", "1"],
    ],
)
def test_unreachable_database_is_one_sentence_and_exit_1(invoke_alone, args):
    result = invoke_alone(*args, env_overrides={"CCM_DATABASE_URL": UNREACHABLE_POSTGRES})

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Cannot connect to the database at postgresql+psycopg://postgres@127.0.0.1:1/ccm")


@pytest.mark.parametrize("args", [["seed"], ["complaints", "list"], ["serve"]])
def test_unmigrated_database_asks_for_db_upgrade(invoke_alone, args):
    result = invoke_alone(*args)

    assert result.exit_code == 1
    assert "run `ccm db upgrade` first" in result.stderr


# --- customers export ---


def test_customers_export_prints_the_customers_copy_and_writes_its_page(invoke, recorded, tmp_path, make_uow):
    page = tmp_path / "copy.html"

    result = invoke(
        "customers",
        "export",
        recorded["late"],
        "--html",
        str(page),
        env_overrides={"CCM_RASA_URL": "http://127.0.0.1:9"},
    )

    assert result.exit_code == 0, result.output
    copy = json.loads(result.stdout)
    assert copy["customer"]["name"] == "Ali Veli"
    assert [c["reference"] for c in copy["complaints"]] == [recorded["late"]]
    assert '<html lang="tr">' in page.read_text(encoding="utf-8")
    assert "Hakkınızda tuttuğumuz kişisel veriler" in page.read_text(encoding="utf-8")
    with make_uow() as uow:
        trail = [event.action for event in uow.audit.trail(uow.complaints.get(recorded["late"]))]
    assert trail[-1] == "export_customer_data"


def test_customers_export_of_an_unknown_case_says_so(invoke):
    result = invoke("customers", "export", "CMP-2020-999999")

    assert result.exit_code == 1
    assert "CMP-2020-999999" in result.stderr
