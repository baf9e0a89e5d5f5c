"""Retraining the assistant for real: validate, train, evaluate against the model in service, deploy, refuse.

A small Rasa project (``tests/fixtures/nlu_small``: small talk and asking for a person in
Turkish, English and German, the product's NLU pipeline, light policies) is copied into the
test's directory, trained, and served by a real Rasa server with the product's action server.
Then admins teach it through the core (``teaching``): a good batch with a new intent is
deployed and answered in each language (the gate measuring the operator's real text too:
``realtext/``, sentences written for this test); a deliberately wrong batch is refused and the
old model keeps serving; an earlier model is rolled back to. ``pytest -s`` prints the
evaluation tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from admin import training
from admin.project import AssistantProject
from admin.training import RetrainFailed, TrainingSettings
from ccm.cli import app
from ccm.worker import run_retrain_requests
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.errors import PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import access, teaching
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels.settings import AssistantSettings
from tests.conftest import fresh_postgres_database
from tests.harness import AssistantProcesses, AssistantUnavailable, RasaClient
from tests.http_server import serving

pytestmark = [pytest.mark.postgres, pytest.mark.rasa]

SMALL_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "nlu_small"
ADMIN = "admin@example.com"

OPENING_HOURS = {
    "en": [
        "when are you open",
        "what are your opening hours",
        "are you open on sunday",
        "what time do you open",
        "what time do you close today",
        "opening hours please",
        "until when are you open",
        "are you open on saturdays",
    ],
    "de": [
        "wann haben sie geöffnet",
        "was sind ihre öffnungszeiten",
        "haben sie sonntags offen",
        "wann öffnen sie",
        "wann schließen sie heute",
        "öffnungszeiten bitte",
        "bis wann haben sie offen",
        "haben sie samstags geöffnet",
    ],
    "tr": [
        "saat kaçta açılıyorsunuz",
        "çalışma saatleriniz nedir",
        "pazar günü açık mısınız",
        "kaçta açıksınız",
        "bugün kaçta kapanıyorsunuz",
        "çalışma saatleri lütfen",
        "saat kaça kadar açıksınız",
        "cumartesi açık mısınız",
    ],
}
OPENING_ANSWERS = {
    "tr": "Hafta içi 09:00-18:00 arası açığız.",
    "en": "We are open on weekdays from 9 am to 6 pm.",
    "de": "Wir haben werktags von 9 bis 18 Uhr geöffnet.",
}
# Messages of intents the assistant knows, labelled right.
GOOD = [
    ("en", "thank", "thanks a million"),
    ("en", "greet", "hello to the team"),
    ("de", "thank", "vielen dank nochmal"),
    ("de", "greet", "hallo ihr lieben"),
    ("tr", "thank", "çok makbule geçti, teşekkürler"),
    ("tr", "greet", "merhaba ekip"),
]
# German greetings labelled as goodbye: a slip that would teach the assistant to say goodbye to "hallo".
WRONG = [
    "hallo ihr",
    "hallo leute",
    "hallo an alle",
    "hallo nochmal",
    "hallo, guten tag",
    "hallo und guten morgen",
    "guten morgen euch",
    "guten morgen zusammen",
    "guten tag allerseits",
    "guten abend zusammen",
    "moin leute",
    "moin zusammen",
    "moin, moin",
    "servus zusammen",
    "servus leute",
    "hey zusammen",
    "hey leute",
    "hi zusammen",
    "hallöchen zusammen",
    "tach zusammen",
    "grüß euch",
    "hallihallo ihr",
    "hallo du",
    "guten tag, hallo",
]


@pytest.fixture
def rasa_bin() -> Path:
    value = os.environ.get("CCM_RASA_BIN")
    if not value or not Path(value).is_file():
        pytest.fail(
            "The Rasa environment is missing: run the tests through `make`, which builds it.", pytrace=False
        )
    return Path(value)


def small_project(tmp_path: Path) -> AssistantProject:
    """A copy of the small project to retrain; the product's rasa_project/ is never touched."""
    return AssistantProject(Path(shutil.copytree(SMALL_PROJECT, tmp_path / "project")))


def missed(core: Core, language: str, text: str, intent: str | None = None) -> int:
    return teaching.keep_unrecognised_message(
        core.unit_of_work(),
        channel="web",
        conversation_id=f"web:{language}-{abs(hash(text)) % 10**8:08d}",
        language=language,
        text=text,
        predicted_intent=intent,
        confidence=0.2,
        reason="low_confidence",
    )


def assign(core: Core, admin: Actor, project: AssistantProject, items: list[tuple[str, str, str]]) -> None:
    for language, intent, text in items:
        item = missed(core, language, text)
        teaching.assign_review_items(
            core.unit_of_work(), admin, [item], intent=intent, known_intents=project.intents()
        )


def status(url: str) -> str:
    return httpx.get(f"{url}/status", timeout=30).json()["model_file"]


def nlu_examples(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        found[entry["intent"]] = [
            line[2:] for line in entry["examples"].splitlines() if line.startswith("- ")
        ]
    return found


def answer(rasa: RasaClient, language: str, text: str) -> list[str]:
    replies = rasa.say(f"web:retrain-{language}-{time.monotonic_ns()}", text, {"language": language})
    return [reply.get("text", "") for reply in replies]


@dataclass
class Served:
    core: Core
    admin: Actor
    settings: TrainingSettings
    initial: Path
    rasa: RasaClient
    database_url: str
    workdir: Path


@pytest.fixture
def served(tmp_path: Path, rasa_bin: Path) -> Iterator[Served]:
    """The small project trained, served by a real Rasa server (and our action server) on PostgreSQL."""
    started = time.monotonic()
    with fresh_postgres_database("retrain") as database_url:
        core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=database_url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        settings = TrainingSettings(
            rasa_project=small_project(tmp_path).root, models_dir=tmp_path / "models", rasa_bin=rasa_bin
        )
        initial = training.train_model(settings, "ccm-small-initial")
        print(f"\ninitial model trained in {time.monotonic() - started:.0f} s")
        try:
            processes = AssistantProcesses(database_url, tmp_path)
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        processes.model = str(initial)
        rasa = RasaClient(processes.url)
        try:
            processes.start()
            print(f"Rasa serving it after {time.monotonic() - started:.0f} s")
            yield Served(
                core=core,
                admin=access.staff_actor(core.unit_of_work(), email=ADMIN),
                settings=TrainingSettings(
                    rasa_project=settings.rasa_project,
                    models_dir=settings.models_dir,
                    rasa_bin=rasa_bin,
                    assistant=AssistantSettings(rasa_url=processes.url),
                    nlu_realtext_dir=settings.rasa_project / "realtext",
                ),
                initial=initial,
                rasa=rasa,
                database_url=database_url,
                workdir=tmp_path,
            )
        finally:
            rasa.close()
            processes.stop()
            core.engine.dispose()


def test_a_good_batch_is_deployed_a_wrong_one_refused_and_an_earlier_model_rolled_back_to(
    served: Served,
) -> None:
    core, admin, settings, project = served.core, served.admin, served.settings, served.settings.project
    url = settings.assistant.rasa_url
    assert status(url) == served.initial.name

    # (1) A new intent with its answer in three languages, its examples, and a few more for known intents;
    # the console's button queues the retrain, the worker runs it.
    teaching.create_intent(
        core.unit_of_work(),
        admin,
        name="opening_hours",
        responses=OPENING_ANSWERS,
        known_intents=project.intents(),
    )
    batch = [(language, "opening_hours", text) for language, texts in OPENING_HOURS.items() for text in texts]
    assign(core, admin, project, batch + GOOD)
    assert len(teaching.examples_to_write(core.unit_of_work())) == len(batch) + len(GOOD)
    teaching.request_retrain(core.unit_of_work(), admin)

    job = training.run_queued_retrain(core, settings, "test-worker")

    assert job is not None
    [done] = teaching.retrain_requests(core.unit_of_work(), admin)
    assert done.status == "done" and done.outcome.startswith("DEPLOYED"), done.outcome
    candidate, adopted = teaching.models(core.unit_of_work(), admin)
    table = training.evaluation_table(training.compare(candidate.evaluation, candidate.baseline, 0.02))
    print(f"\n--- retrain 1 (a good batch), by the worker ---\n{done.outcome}\n{table}")
    assert done.model_id == candidate.id
    assert (candidate.status, candidate.examples_added, candidate.created_by) == (
        "deployed",
        len(batch) + len(GOOD),
        f"staff:{ADMIN}",
    )
    assert set(candidate.evaluation) == set(candidate.baseline) == {"tr", "en", "de"}
    for language in ("tr", "en", "de"):
        assert candidate.evaluation[language]["examples"] == 30
        assert 0 <= candidate.evaluation[language]["intent_macro_f1"] <= 1
        # The operator's real text is measured too, and gated: this project knows no complaint intent.
        assert candidate.evaluation[language]["complaint_recall"] == 0.0
        assert candidate.evaluation[language]["false_complaint_rate"] == 0.0
    assert "| en | 30 | complaint recall | 0.000 | 0.000 | +0.000 | kept |" in table
    assert "within 0.02 of ccm-small-initial" in (candidate.reason or "")
    # The model that was in service before is kept too, so an admin can go back to it.
    assert (adopted.name, adopted.status, Path(adopted.path)) == (
        "ccm-small-initial",
        "retired",
        served.initial.resolve(),
    )
    assert adopted.evaluation == candidate.baseline
    assert status(url) == Path(candidate.path).name
    assert candidate.name.startswith("ccm-") and Path(candidate.path).parent == settings.models_dir.resolve()
    # The examples are in the project's data, the new intent in its domain and rules; all marked written.
    for language, texts in OPENING_HOURS.items():
        written = nlu_examples(project.nlu_dir / f"reviewed_{language}.yml")
        assert written["opening_hours"] == texts
    assert "vielen dank nochmal" in nlu_examples(project.nlu_dir / "reviewed_de.yml")["thank"]
    learned = yaml.safe_load((project.root / "domain" / "learned.yml").read_text(encoding="utf-8"))
    assert learned["intents"] == ["opening_hours"]
    assert "opening_hours" in (project.root / "data" / "rules" / "learned.yml").read_text(encoding="utf-8")
    assert teaching.examples_to_write(core.unit_of_work()) == []
    # The running server knows the new intent and answers in the conversation's language.
    for language, text in (("en", "what are your opening hours"), ("de", "wann haben sie geöffnet")):
        assert answer(served.rasa, language, text) == [OPENING_ANSWERS[language]]
    assert answer(served.rasa, "tr", "çalışma saatleriniz nedir") == [OPENING_ANSWERS["tr"]]

    # (2) A wrong batch: German greetings labelled as goodbye. `ccm nlu retrain` refuses it.
    data_before = {path: path.read_bytes() for path in sorted(project.root.rglob("*.yml"))}
    assign(core, admin, project, [("de", "goodbye", text) for text in WRONG])
    env = {
        "CCM_DATABASE_URL": served.database_url,
        "CCM_DATA_DIR": str(served.workdir),
        "CCM_ORGANISATION_FILE": str(DEMO_ORGANISATION),
        "CCM_RASA_PROJECT": str(project.root),
        "CCM_MODELS_DIR": str(settings.models_dir),
        "CCM_RASA_URL": url,
        "CCM_RASA_BIN": str(settings.rasa_bin),
        "CCM_NLU_TOLERANCE": "",
        "CCM_RASA_TOKEN": None,
    }
    refused = CliRunner().invoke(app, ["nlu", "retrain"], env=env)
    print(f"\n--- retrain 2 (a wrong batch), ccm nlu retrain ---\n{refused.output}")
    assert refused.exit_code == 3, refused.output
    assert "REFUSED" in refused.output and "| de | 30 |" in refused.output
    worse = teaching.models(core.unit_of_work(), admin)[0]
    assert (worse.status, worse.deployed_at, worse.examples_added) == ("refused", None, len(WRONG))
    assert worse.reason and worse.reason.startswith("de: macro-F1 ")
    german = worse.evaluation["de"]["intent_macro_f1"]
    before = worse.baseline["de"]["intent_macro_f1"]
    assert f"de: macro-F1 {german:.3f} < {before:.3f} - 0.02" in worse.reason
    assert german < before - 0.02
    assert worse.reason in refused.output
    # The old model keeps serving, the data files are as they were, the wrong batch is not marked written.
    assert status(url) == Path(candidate.path).name
    assert {path: path.read_bytes() for path in sorted(project.root.rglob("*.yml"))} == data_before
    assert len(teaching.examples_to_write(core.unit_of_work())) == len(WRONG)
    assert answer(served.rasa, "de", "hallo zusammen") == ["Hallo! Wie kann ich Ihnen helfen?"]

    # (3) Roll back to the model before the first retrain, then forward again to the retrained one.
    rolled = CliRunner().invoke(app, ["nlu", "rollback", str(adopted.id)], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert "ccm-small-initial" in rolled.output
    assert status(url) == served.initial.name
    assert [(m.name, m.status) for m in teaching.models(core.unit_of_work(), admin)] == [
        (worse.name, "refused"),
        (candidate.name, "retired"),
        ("ccm-small-initial", "deployed"),
    ]
    never = CliRunner().invoke(app, ["nlu", "rollback", str(worse.id)], env=env)
    assert never.exit_code == 1 and "never in service" in never.output
    assert status(url) == served.initial.name
    listed = CliRunner().invoke(app, ["nlu", "models"], env=env)
    print(f"\n--- ccm nlu models (after rolling back) ---\n{listed.output}")
    assert listed.exit_code == 0 and worse.reason in listed.output
    training.roll_back(core, settings, admin, candidate.id)
    assert status(url) == Path(candidate.path).name
    assert answer(served.rasa, "en", "what are your opening hours") == [OPENING_ANSWERS["en"]]
    with pytest.raises(PreconditionFailed):
        training.roll_back(core, settings, admin, worse.id)


# --- a failing validation changes nothing (no Rasa server needed: a stand-in answers /status) ---


def status_stand_in(model_file: str, loads: list[str]) -> FastAPI:
    """Rasa's two calls a deployment makes: it serves ``model_file`` until told to load another."""
    stand_in = FastAPI()

    @stand_in.get("/status")
    def rasa_status() -> dict[str, str]:
        return {"model_file": Path(loads[-1]).name if loads else model_file}

    @stand_in.put("/model", status_code=204)
    async def load(request: Request) -> None:
        loads.append((await request.json())["model_file"])

    return stand_in


def test_a_failing_validation_restores_the_data_files_and_records_nothing(
    tmp_path: Path, rasa_bin: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "ccm.db"
    shutil.copy(sqlite_template, database)
    core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=f"sqlite:///{database}"))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    admin = access.staff_actor(core.unit_of_work(), email=ADMIN)
    project = small_project(tmp_path)
    (project.nlu_dir / "reviewed_en.yml").write_text('version: "3.1"\nnlu: []\n', encoding="utf-8")
    before = {path: path.read_bytes() for path in sorted(project.root.rglob("*")) if path.is_file()}
    teaching.create_intent(
        core.unit_of_work(), admin, name="opening_hours", responses=OPENING_ANSWERS, known_intents=[]
    )
    # The same words for two intents: Rasa's validator refuses the data (--fail-on-warnings).
    assign(core, admin, project, [("en", "greet", "hello and bye"), ("en", "goodbye", "hello and bye")])
    assign(core, admin, project, [("en", "opening_hours", "when do you open")])
    loads: list[str] = []
    with serving(status_stand_in("ccm-small-initial.tar.gz", loads)) as url:
        settings = TrainingSettings(
            rasa_project=project.root,
            models_dir=tmp_path / "models",
            rasa_bin=rasa_bin,
            assistant=AssistantSettings(rasa_url=url),
        )
        with pytest.raises(RetrainFailed) as failed:
            training.retrain(core, settings, admin)

    assert failed.value.step == "rasa data validate"
    assert "labeled with multiple different intents" in str(failed.value), str(failed.value)
    assert {path: path.read_bytes() for path in sorted(project.root.rglob("*")) if path.is_file()} == before
    assert not (project.root / "domain" / "learned.yml").exists()
    assert teaching.models(core.unit_of_work(), admin) == []
    assert len(teaching.examples_to_write(core.unit_of_work())) == 3
    assert loads == [] and not list((tmp_path / "models").glob("*.tar.gz"))
    core.engine.dispose()


def test_the_worker_runs_a_queued_request_records_its_failure_and_goes_on(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "ccm.db"
    shutil.copy(sqlite_template, database)
    core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=f"sqlite:///{database}"))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    admin = access.staff_actor(core.unit_of_work(), email=ADMIN)
    queued = teaching.request_retrain(core.unit_of_work(), admin)
    settings = TrainingSettings(
        rasa_project=small_project(tmp_path).root, models_dir=tmp_path / "models", rasa_bin=None
    )

    async def worker_until_done() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_retrain_requests(core, settings, "test-worker", stop, poll_seconds=0.05)
        )
        deadline = time.monotonic() + 30
        while teaching.retrain_requests(core.unit_of_work(), admin)[0].status in ("queued", "running"):
            assert time.monotonic() < deadline and not loop.done()
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(worker_until_done())

    [failed] = teaching.retrain_requests(core.unit_of_work(), admin)
    assert (failed.id, failed.status) == (queued.id, "failed")
    assert "CCM_RASA_BIN" in (failed.outcome or "")
    assert training.run_queued_retrain(core, settings, "test-worker") is None  # nothing queued any more
    core.engine.dispose()


def test_a_model_is_loaded_into_every_rasa_replica_and_a_half_done_load_is_undone(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "ccm.db"
    shutil.copy(sqlite_template, database)
    core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=f"sqlite:///{database}"))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    admin = access.staff_actor(core.unit_of_work(), email=ADMIN)
    earlier, candidate = tmp_path / "ccm-earlier.tar.gz", tmp_path / "ccm-candidate.tar.gz"
    earlier.write_bytes(b"model"), candidate.write_bytes(b"model")
    first, _later = (
        teaching.record_model(
            core.unit_of_work(),
            admin,
            name=name,
            path=str(path),
            deployed=True,
            evaluation={},
            baseline={},
            reason=None,
            examples_added=0,
        )
        for name, path in (("ccm-earlier", earlier), ("ccm-later", candidate))
    )
    one, two = [], []  # what each replica was told to load
    nowhere = "http://127.0.0.1:9"
    with serving(status_stand_in("ccm-later.tar.gz", one)) as a, serving(status_stand_in("x", two)) as b:

        def settings(*replicas: str) -> TrainingSettings:
            assistant = AssistantSettings(rasa_url="http://balancer.invalid", rasa_replicas=list(replicas))
            return TrainingSettings(models_dir=tmp_path / "models", assistant=assistant)

        # A roll-back reaches every replica, not the one a balancer picks.
        training.roll_back(core, settings(a, b), admin, first.id)
        assert one == two == [str(earlier.resolve())]
        states = {m.name: m.status for m in teaching.models(core.unit_of_work(), admin)}
        assert states == {"ccm-earlier": "deployed", "ccm-later": "retired"}

        # A replica that cannot load: those that did go back to the model in service.
        one.clear()
        with pytest.raises(RetrainFailed) as failed:
            training.load_everywhere(settings(a, nowhere), candidate, previous=earlier)
        assert failed.value.step == "deploy"
        assert one == [str(candidate), str(earlier)]

        # A roll-back has nothing to go back to: it says which servers serve what, and records nothing.
        one.clear()
        with pytest.raises(RetrainFailed) as failed:
            training.roll_back(core, settings(a, nowhere), admin, first.id)
        assert f"{a} serve ccm-earlier.tar.gz" in str(failed.value)
        assert {m.name: m.status for m in teaching.models(core.unit_of_work(), admin)} == states
    core.engine.dispose()
