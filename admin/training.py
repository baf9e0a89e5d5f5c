"""Retraining the assistant: reviewed examples in, a candidate model out, deployed only if it is not worse.

``retrain`` writes the examples admins labelled (and the intents they created) into the Rasa
project, runs ``rasa data validate``, trains a candidate with a unique name, evaluates it and
the model the running Rasa server has in service on the same held-out files (one per
language) and, where the operator keeps real customers' text for evaluation
(``CCM_NLU_REALTEXT_DIR``), on that too, with the same script (``rasa_project/eval/nlu_eval.py``),
and deploys it through Rasa's HTTP API (``PUT /model``) only if no figure got worse by more than
the tolerance in any language: intent macro-F1, and on real text complaint recall and the
false-complaint rate (``GATES``). Either way the candidate is recorded with its figures and the
reason (``teaching.record_model``); a refused candidate leaves the project's data as it was,
so the files keep describing the model in service and its examples stay assigned for the
next retrain. ``roll_back`` puts an earlier deployed model back into service.

Rasa runs in its own Python 3.10 environment (``CCM_RASA_BIN``); every step is a subprocess
with a timeout. The Rasa server must be able to read the models directory (the same machine
or a shared volume): ``PUT /model`` names the file, it does not upload it. Example texts are
never logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import math
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings

from admin.project import DEFAULT_PROJECT, LEARNED_DOMAIN, LEARNED_RULES, AssistantProject, reviewed_file
from ccm_core.bootstrap import Core
from ccm_core.domain.errors import CCMError, NotFound, PreconditionFailed
from ccm_core.domain.policy import Actor
from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer import access, teaching
from ccm_core.service_layer.teaching import ModelView, RetrainJob
from ccm_core.settings import SECTION
from channels.settings import AssistantSettings

log = logging.getLogger("ccm.retrain")

DEFAULT_TOLERANCE = 0.02
EVAL_SCRIPT = DEFAULT_PROJECT / "eval" / "nlu_eval.py"
RETRAIN_LEASE_SECONDS = 3 * 3600  # longer than any retrain; another worker takes over after a crash
METRIC = "intent_macro_f1"


@dataclass(frozen=True)
class Gate:
    """A figure of the evaluation that a candidate may not make worse."""

    figure: str  # its key in the evaluation script's figures per language
    label: str  # as a refusal names it
    higher_is_better: bool


GATES = (
    Gate(METRIC, "macro-F1", higher_is_better=True),
    Gate("complaint_recall", "complaint recall", higher_is_better=True),
    Gate("false_complaint_rate", "false-complaint rate", higher_is_better=False),
)
PROJECT_FILES = ("--domain", "domain", "--data", "data", "--config", "config.yml")  # as the Makefile's
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class TrainingSettings(BaseSettings):
    """Where the project, the models and the Rasa environment are, and how much worse is too much.

    ``CCM_RASA_PROJECT``, ``CCM_CACHE_DIR`` (models under ``models/``), ``CCM_MODELS_DIR``, ``CCM_RASA_BIN``,
    ``CCM_RASA_MODEL``, ``CCM_NLU_TOLERANCE``, ``CCM_NLU_REALTEXT_DIR``; the Rasa server from the assistant's.
    """

    model_config = SECTION

    rasa_project: Path = DEFAULT_PROJECT
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "ccm")
    models_dir: Path | None = None  # default: cache_dir / "models"
    rasa_bin: Path | None = None
    # The model ``make`` trained for this checkout: served until a retrain deploys another.
    rasa_model: Path | None = None
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    nlu_tolerance: float = DEFAULT_TOLERANCE
    # Real customers' text kept by the operator for evaluation only (CSV, as eval/nlu_eval.py reads).
    nlu_realtext_dir: Path | None = None
    # Where ``components.folding_tokenizer`` is found (the product's Rasa project): a copy of a
    # project elsewhere (the tests' small one) trains with the same custom tokenizer.
    components_path: Path = DEFAULT_PROJECT
    eval_script: Path = EVAL_SCRIPT
    validate_timeout: float = 600
    train_timeout: float = 3600
    eval_timeout: float = 1200
    deploy_timeout: float = 600

    @property
    def project(self) -> AssistantProject:
        return AssistantProject(self.rasa_project)

    @property
    def models(self) -> Path:
        return self.models_dir or self.cache_dir / "models"

    @property
    def rasa_available(self) -> bool:
        return self.rasa_bin is not None and self.rasa_bin.is_file()

    @property
    def rasa_python(self) -> Path:
        assert self.rasa_bin is not None
        return self.rasa_bin.parent / "python"

    @property
    def train_cache_dir(self) -> Path:
        return self.models.parent / "rasa-train-cache"


class RetrainFailed(Exception):
    """A step could not be done; ``step`` names it, the message says why (Rasa's own words included)."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(message)


@dataclass(frozen=True)
class LanguageVerdict:
    """One gated figure in one language: the candidate against the model in service."""

    language: str
    examples: int
    candidate: float | None
    in_service: float | None
    tolerance: float
    gate: Gate = GATES[0]

    @property
    def difference(self) -> float | None:
        if self.candidate is None or self.in_service is None:
            return None
        return self.candidate - self.in_service

    @property
    def kept(self) -> bool:
        if self.difference is None:
            return False
        better = self.difference if self.gate.higher_is_better else -self.difference
        # A hair of slack for floating point: 0.90 - 0.02 must accept 0.88.
        return better >= -self.tolerance - 1e-9

    @property
    def refusal(self) -> str:
        name = f"{self.language}: {self.gate.label}"
        if self.candidate is None:
            return f"{name}: the candidate was not evaluated on this language"
        if self.in_service is None:
            return f"{name}: the model in service was not evaluated on this language"
        sign = "<" if self.gate.higher_is_better else ">"
        plus = "-" if self.gate.higher_is_better else "+"
        return f"{name} {self.candidate:.3f} {sign} {self.in_service:.3f} {plus} {_tolerance(self.tolerance)}"


def _tolerance(value: float) -> str:
    return f"{value:g}"


def compare(
    candidate: Mapping[str, Mapping[str, Any]], in_service: Mapping[str, Mapping[str, Any]], tolerance: float
) -> list[LanguageVerdict]:
    """Per language, per gated figure either evaluation has: kept when not worse by more than ``tolerance``.

    Intent macro-F1 is always gated; the real-text figures where either model was measured on real text.
    """
    verdicts = []
    for language in sorted(set(candidate) | set(in_service)):
        ours, theirs = candidate.get(language) or {}, in_service.get(language) or {}
        for gate in GATES:
            if gate.figure != METRIC and gate.figure not in ours and gate.figure not in theirs:
                continue
            verdicts.append(
                LanguageVerdict(
                    language=language,
                    examples=int(ours.get("examples") or theirs.get("examples") or 0),
                    candidate=_figure(ours.get(gate.figure)),
                    in_service=_figure(theirs.get(gate.figure)),
                    tolerance=tolerance,
                    gate=gate,
                )
            )
    return verdicts


def _figure(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def evaluation_table(verdicts: list[LanguageVerdict]) -> str:
    """The per-language comparison, as a Markdown table (printable, and pasteable into the README)."""

    def shown(value: float | None, signed: bool = False) -> str:
        return "-" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")

    lines = [
        "| Language | Held-out examples | Figure | Candidate | In service | Difference | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        verdict = "kept" if v.kept else f"worse by more than {_tolerance(v.tolerance)}"
        lines.append(
            f"| {v.language} | {v.examples} | {v.gate.label} | {shown(v.candidate)} | {shown(v.in_service)} "
            f"| {shown(v.difference, signed=True)} | {verdict} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class RetrainOutcome:
    deployed: bool
    model: ModelView  # the candidate's row: deployed or refused
    in_service: str  # the model it was measured against (the one still in service when refused)
    verdicts: list[LanguageVerdict]
    reason: str
    examples_added: int
    tolerance: float
    seconds: dict[str, float]  # per step, and the total

    @property
    def table(self) -> str:
        return evaluation_table(self.verdicts)

    @property
    def summary(self) -> str:
        word = "DEPLOYED" if self.deployed else "REFUSED"
        return f"{word} {self.model.name} (model {self.model.id}): {self.reason}"

    @property
    def timings(self) -> str:
        return ", ".join(f"{step} {seconds:.0f} s" for step, seconds in self.seconds.items())


# --- subprocesses and Rasa's HTTP API ---


def _tail(output: str, lines: int = 25) -> str:
    """The end of Rasa's output, without colours, progress bars or parsed messages (they quote texts)."""
    kept = [
        _ANSI.sub("", line).rstrip()
        for line in output.splitlines()
        if line.strip() and "parse_data_text" not in line and "it/s]" not in line
    ]
    return "\n".join(kept[-lines:])


def _run(step: str, command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run ``command``; its output (stdout and stderr) when it succeeds, RetrainFailed otherwise."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RetrainFailed(step, f"{step}: no result after {timeout:.0f} s, stopped") from None
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        output.seek(0)
        text = output.read()
    if code != 0:
        raise RetrainFailed(step, f"{step} failed (exit code {code}):\n{_tail(text)}")
    return text


def _environment(settings: TrainingSettings) -> dict[str, str]:
    paths = [str(settings.project.root.resolve())]
    components = str(settings.components_path.resolve())
    if components not in paths:
        paths.append(components)
    return {
        **os.environ,  # the Rasa programs run with this process's environment (PATH, locale, proxies)
        "PYTHONPATH": os.pathsep.join(paths),
        "RASA_TELEMETRY_ENABLED": "false",
        "RASA_CACHE_DIRECTORY": str(settings.train_cache_dir),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


class RasaServer:
    """The two calls of Rasa's HTTP API a retrain needs (the server runs with ``--enable-api``)."""

    def __init__(self, url: str, token: str | None, timeout: float = 600) -> None:
        self.url = url.rstrip("/")
        self.params = {"token": token} if token else {}
        self.timeout = timeout

    def model_file(self) -> str:
        """The file name of the model in service (GET /status)."""
        try:
            response = httpx.get(f"{self.url}/status", params=self.params, timeout=30)
        except httpx.HTTPError as err:
            raise RetrainFailed(
                "status", f"The Rasa server at {self.url} is not reachable ({type(err).__name__})."
            ) from None
        if response.status_code in (401, 403):
            raise RetrainFailed(
                "status", f"The Rasa server at {self.url} refused the token (set CCM_RASA_TOKEN)."
            )
        if response.status_code == 409:
            raise RetrainFailed("status", f"The Rasa server at {self.url} has no model loaded.")
        if response.status_code != 200:
            raise RetrainFailed("status", f"GET {self.url}/status answered {response.status_code}.")
        name = response.json().get("model_file")
        if not name:
            raise RetrainFailed("status", f"The Rasa server at {self.url} has no model loaded.")
        return str(name)

    def load(self, path: Path) -> None:
        """PUT /model: the server loads the file and serves it; checked with GET /status."""
        try:
            response = httpx.put(
                f"{self.url}/model",
                params=self.params,
                json={"model_file": str(path)},
                timeout=self.timeout,
            )
        except httpx.HTTPError as err:
            raise RetrainFailed(
                "deploy", f"PUT {self.url}/model did not answer ({type(err).__name__}); the old model stays."
            ) from None
        if response.status_code != 204:
            raise RetrainFailed(
                "deploy", f"PUT {self.url}/model answered {response.status_code}: {response.text[:500]}"
            )
        serving = self.model_file()
        if serving != path.name:
            raise RetrainFailed("deploy", f"The Rasa server serves {serving} after loading {path.name}.")


# --- the steps ---


@contextlib.contextmanager
def _exclusive(settings: TrainingSettings) -> Iterator[None]:
    """One retrain or rollback at a time on this machine (CLI and worker alike)."""
    settings.models.mkdir(parents=True, exist_ok=True)
    with (settings.models / ".retrain.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainFailed(
                "lock", "Another retrain or rollback is running; try again when it is done."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _data_files(project: AssistantProject) -> list[Path]:
    """Every file a retrain writes into the project."""
    return [
        *(project.nlu_dir / reviewed_file(language) for language in LANGUAGES),
        project.root / "domain" / LEARNED_DOMAIN,
        project.root / "data" / "rules" / LEARNED_RULES,
    ]


class _Snapshot:
    """The data files as they were, to put back when the candidate is not deployed."""

    def __init__(self, paths: list[Path]) -> None:
        self.saved = {path: path.read_bytes() if path.exists() else None for path in paths}

    def restore(self) -> None:
        for path, content in self.saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


def _write_data(core: Core, settings: TrainingSettings) -> tuple[list[int], int]:
    """The assigned examples and the learned intents that have examples; (example ids, new examples)."""
    examples = teaching.examples_to_write(core.unit_of_work())
    added = settings.project.write_examples(examples)
    counts = settings.project.example_counts()
    intents = teaching.learned_intents(core.unit_of_work())
    # An intent without examples fails validation (and could not be recognised): it waits for them.
    settings.project.write_learned_intents([intent for intent in intents if counts.get(intent.name)])
    waiting = [intent.name for intent in intents if not counts.get(intent.name)]
    log.info(
        "retrain: %d examples (%d new) in %d languages, %d learned intents (%d waiting for examples)",
        len(examples),
        added,
        len({e.language for e in examples}),
        len(intents) - len(waiting),
        len(waiting),
    )
    return [example.id for example in examples], added


def _validate(settings: TrainingSettings, env: dict[str, str]) -> None:
    assert settings.rasa_bin is not None
    _run(
        "rasa data validate",
        [str(settings.rasa_bin), "data", "validate", *PROJECT_FILES, "--fail-on-warnings"],
        settings.project.root,
        env,
        settings.validate_timeout,
    )


def train_model(settings: TrainingSettings, name: str, env: dict[str, str] | None = None) -> Path:
    """``rasa train`` on the project as it is, into ``<models_dir>/<name>.tar.gz``."""
    assert settings.rasa_bin is not None
    env = env or _environment(settings)
    out = settings.models.resolve()
    _run(
        "rasa train",
        [str(settings.rasa_bin), "train", *PROJECT_FILES, "--out", str(out), "--fixed-model-name", name],
        settings.project.root,
        env,
        settings.train_timeout,
    )
    path = out / f"{name}.tar.gz"
    if not path.is_file():
        raise RetrainFailed("rasa train", f"rasa train finished but {path} is not there.")
    return path


def _clean(value: Any) -> Any:
    """JSON the databases accept: NaN (an F1 over nothing) becomes null."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _evaluate(settings: TrainingSettings, env: dict[str, str], model: Path) -> dict[str, dict[str, Any]]:
    """The product's evaluation script on the project's held-out files: language → figures."""
    with tempfile.TemporaryDirectory(prefix="ccm-eval-") as scratch:
        out = Path(scratch) / "figures.json"
        _run(
            f"evaluating {model.name}",
            [
                str(settings.rasa_python),
                str(settings.eval_script),
                *("--model", str(model), "--data", str(settings.project.eval_dir.resolve())),
                *(
                    ("--realtext", str(settings.nlu_realtext_dir.resolve()))
                    if settings.nlu_realtext_dir
                    else ()
                ),
                # The comparison decides, not fixed targets.
                *("--target", "0", "--recall", "0", "--false-rate", "1", "--out", str(out)),
            ],
            settings.project.root,
            env,
            settings.eval_timeout,
        )
        figures = json.loads(out.read_text(encoding="utf-8"))
    if not figures:
        raise RetrainFailed("evaluate", f"No held-out files in {settings.project.eval_dir}.")
    return _clean(figures)


def _find_model_file(
    core: Core, settings: TrainingSettings, actor: Actor, file_name: str
) -> tuple[Path, ModelView | None]:
    """The file Rasa serves, from its name: a recorded model, the models directory, or make's model."""
    recorded = next(
        (view for view in teaching.models(core.unit_of_work(), actor) if Path(view.path).name == file_name),
        None,
    )
    places = [Path(recorded.path)] if recorded else []
    places += [settings.models / file_name, settings.rasa_model or Path()]
    for path in places:
        if path.name == file_name and path.is_file():
            return path.resolve(), recorded
    raise RetrainFailed(
        "status",
        f"The model in service, {file_name}, is not in {settings.models}: it cannot be evaluated, "
        "so no candidate can be compared with it.",
    )


def _model_name(file_name: str) -> str:
    return file_name.removesuffix(".tar.gz")


def retrain(core: Core, settings: TrainingSettings, actor: Actor) -> RetrainOutcome:
    """Write, validate, train, evaluate against the model in service, deploy only if no language got worse.

    Raises ``RetrainFailed`` (the project's data as it was, nothing recorded) when a step fails.
    """
    teaching.models(core.unit_of_work(), actor)  # may this actor teach the assistant? before any work
    if not settings.rasa_available:
        raise RetrainFailed(
            "setup",
            "The Rasa environment is not there: set CCM_RASA_BIN (run through `make`, which builds it).",
        )
    rasa = _rasa(settings, settings.assistant.rasa_url)
    env = _environment(settings)
    seconds: dict[str, float] = {}
    started = time.monotonic()

    def timed(step: str, since: float) -> float:
        now = time.monotonic()
        seconds[step] = round(now - since, 1)
        return now

    with _exclusive(settings):
        rasa.model_file()  # reachable, with a model, before anything is trained
        snapshot = _Snapshot(_data_files(settings.project))
        deployed, candidate = False, None
        try:
            mark = time.monotonic()
            example_ids, added = _write_data(core, settings)
            mark = timed("write", mark)
            _validate(settings, env)
            mark = timed("validate", mark)
            name = f"ccm-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
            candidate = train_model(settings, name, env)
            mark = timed("train", mark)
            serving = rasa.model_file()
            serving_path, serving_view = _find_model_file(core, settings, actor, serving)
            with ThreadPoolExecutor(max_workers=2) as pool:  # two processes: the machine's cores
                ours = pool.submit(_evaluate, settings, env, candidate)
                theirs = pool.submit(_evaluate, settings, env, serving_path)
                evaluation, baseline = ours.result(), theirs.result()
            mark = timed("evaluate", mark)
            verdicts = compare(evaluation, baseline, settings.nlu_tolerance)
            refusals = [v.refusal for v in verdicts if not v.kept]
            if serving_view is None:
                # The model in service came from elsewhere (make's first model): keep it, to roll back to.
                teaching.record_model(
                    core.unit_of_work(),
                    actor,
                    name=_model_name(serving),
                    path=str(serving_path),
                    deployed=True,
                    evaluation=baseline,
                    baseline={},
                    reason="in service before this retrain, trained outside CCM",
                    examples_added=0,
                )
            if not refusals:
                load_everywhere(settings, candidate, previous=serving_path)
                deployed = True
                mark = timed("deploy", mark)
                gated = ", ".join(dict.fromkeys(v.gate.label for v in verdicts))
                reason = (
                    f"{gated} within {_tolerance(settings.nlu_tolerance)} of {_model_name(serving)} "
                    "or better in every language"
                )
            else:
                reason = "; ".join(refusals)
        except BaseException:
            if candidate is not None:  # trained but neither deployed nor refused: not kept
                candidate.unlink(missing_ok=True)
            raise
        finally:
            if not deployed:
                snapshot.restore()
        view = teaching.record_model(
            core.unit_of_work(),
            actor,
            name=name,
            path=str(candidate.resolve()),
            deployed=deployed,
            evaluation=evaluation,
            baseline=baseline,
            reason=reason,
            examples_added=added,
        )
        if deployed:
            teaching.mark_written(core.unit_of_work(), example_ids)
    seconds["total"] = round(time.monotonic() - started, 1)
    log.info("retrain: %s %s in %.0f s", "deployed" if deployed else "refused", name, seconds["total"])
    return RetrainOutcome(
        deployed=deployed,
        model=view,
        in_service=_model_name(serving),
        verdicts=verdicts,
        reason=reason,
        examples_added=added,
        tolerance=settings.nlu_tolerance,
        seconds=seconds,
    )


def _rasa(settings: TrainingSettings, url: str) -> RasaServer:
    return RasaServer(url, settings.assistant.rasa_token, settings.deploy_timeout)


def load_everywhere(settings: TrainingSettings, path: Path, previous: Path | None) -> None:
    """Load the model into every Rasa server; if one cannot, those that did go back to ``previous``.

    Replicas must not answer with different models for long: a failure leaves them all as they were
    (a roll-back, with no previous file to go back to, says which servers serve what).
    """
    loaded: list[str] = []
    for url in settings.assistant.rasa_servers:
        try:
            _rasa(settings, url).load(path)
        except RetrainFailed as failed:
            if previous is None:
                if loaded:
                    raise RetrainFailed(
                        failed.step, f"{failed} ({', '.join(loaded)} serve {path.name})"
                    ) from None
                raise
            for done in loaded:
                _rasa(settings, done).load(previous)
            raise
        loaded.append(url)


def model_to_serve(core: Core, built: Path | None) -> Path | None:
    """The model a (re)starting Rasa server loads: the one deployed here, unless ``make`` built a newer one.

    ``make`` trains from ``rasa_project/`` as it is, which after a retrain holds the deployed
    model's data: a model it built later serves the same data (or a release's newer data).
    A roll-back is newer than what ``make`` built, so it survives a restart.
    """
    in_service = next(
        (m for m in teaching.models(core.unit_of_work(), Actor.system("rasa")) if m.status == "deployed"),
        None,
    )
    if in_service is None or in_service.deployed_at is None or not Path(in_service.path).exists():
        return built
    if built is not None and built.exists() and built.stat().st_mtime > in_service.deployed_at.timestamp():
        return built
    return Path(in_service.path)


def roll_back(core: Core, settings: TrainingSettings, actor: Actor, model_id: int) -> ModelView:
    """Put an earlier deployed model back into service (PUT /model), then record it."""
    view = teaching.model(core.unit_of_work(), actor, model_id)
    if view.deployed_at is None:
        raise PreconditionFailed("model_never_deployed", model=view.name)
    path = Path(view.path)
    if not path.is_file():
        raise RetrainFailed("rollback", f"The file of {view.name} is gone: {path}")
    with _exclusive(settings):
        load_everywhere(settings, path, previous=None)
        rolled = teaching.rolled_back(core.unit_of_work(), actor, model_id)
    log.info("rollback: %s in service again", view.name)
    return rolled


# --- the worker's part: the console's retrain button queues a request, a worker runs it ---


def _requester(core: Core, label: str) -> Actor:
    """The admin who asked (still an admin?), or the system when the request came from no person."""
    if label.startswith("staff:"):
        with contextlib.suppress(NotFound):
            return access.staff_actor(core.unit_of_work(), email=label.removeprefix("staff:"))
    return Actor.system("retrain")


def run_queued_retrain(
    core: Core, settings: TrainingSettings, worker_id: str, *, lease_seconds: int = RETRAIN_LEASE_SECONDS
) -> RetrainJob | None:
    """Claim the oldest queued retrain and run it; what happened goes to the request, never raised."""
    try:
        job = teaching.claim_retrain(core.unit_of_work(), worker_id, lease_seconds=lease_seconds)
    except Exception as err:
        log.warning("retrain: could not look for requests (%s)", type(err).__name__)
        return None
    if job is None:
        return None
    log.info("retrain: request %d taken by %s", job.id, worker_id)
    model_id: int | None = None
    try:
        outcome = retrain(core, settings, _requester(core, job.requested_by))
        # One line: the figures are in the model's row, where the console shows them per language.
        text, failed, model_id = f"{outcome.summary}. Time: {outcome.timings}.", False, outcome.model.id
    except RetrainFailed as err:
        log.warning("retrain: request %d failed at %s", job.id, err.step)
        text, failed = f"FAILED: {err}", True
    except CCMError as err:  # not allowed (any more), say
        log.warning("retrain: request %d refused (%s)", job.id, type(err).__name__)
        text, failed = f"FAILED: {err.message('en')}", True
    except Exception as err:  # the worker goes on delivering whatever happened here
        # The type only: a message could quote training data.
        log.error("retrain: request %d failed unexpectedly (%s)", job.id, type(err).__name__)
        message = type(err).__name__
        text, failed = f"FAILED: {message}", True
    try:
        teaching.finish_retrain(core.unit_of_work(), job.id, outcome=text, model_id=model_id, failed=failed)
    except Exception as err:
        log.warning("retrain: request %d could not be closed (%s)", job.id, type(err).__name__)
    return job
