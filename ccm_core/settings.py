"""The core's settings, read from the environment (``CCM_*``) with embedded defaults.

The defaults run the product on one machine with nothing to configure: a SQLite
file under ``var/`` and the demo organisation shipped with the package. Building the
settings reads the environment and nothing else; the product's whole settings object,
with the channels', the assistant's and training's sections beside this one, is built
once by the composition root (``ccm.settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_ORGANISATION = PACKAGE_DIR / "data" / "organisation.yaml"
DEMO_SURVEY = PACKAGE_DIR / "data" / "survey.yaml"

# Every section reads ``CCM_<NAME>``; an empty variable counts as unset; what is not ours is ignored.
SECTION = SettingsConfigDict(
    env_prefix="CCM_", env_ignore_empty=True, extra="ignore", frozen=True, validate_by_name=True
)
# A password, token or URL that may hold one: never in a settings object's repr (nor so in a log).
Hidden = Annotated[str, Field(repr=False)]


class CoreSettings(BaseSettings):
    """Where the core keeps its data, and the rules of the complaint process that an operator tunes."""

    model_config = SECTION

    data_dir: Path = Path("var")
    database_url: Hidden = ""  # default: SQLite in data_dir
    # Redis, where the deployment has it: de-duplication, rate limits, Rasa's stores, the web chat's fan-out.
    redis_url: Hidden = ""
    organisation_file: Path = DEMO_ORGANISATION
    host: str = "127.0.0.1"
    port: int = 8000
    survey_satisfied_from: int = 4
    # The survey's schedule: sent this long after the customer was informed (08), reminded once,
    # then closed as "no response"; after this many follow-up rounds the department lead is alerted.
    survey_delay_hours: float = 24
    survey_reminder_hours: float = 48
    survey_expiry_hours: float = 168
    survey_max_rounds: int = 2
    survey_nps: bool = False
    survey_file: Path = DEMO_SURVEY
    # Where customers reach the product's own pages (the survey link; default http://host:port),
    # and the key that signs them (default: a key kept in data_dir, made when the core starts).
    public_url: str = ""
    secret_key: Hidden = ""
    report_language: str = "tr"
    sla_soon_hours: int = 4
    max_text_length: int = 5000
    # Retention: a customer whose complaints all closed this many days ago is erased by the worker
    # (0: never). Two years outlasts the consumer's claims and a regulator's questions about a case.
    retention_days: int = 730
    # Files customers send with a complaint (a mail's attachments); default: data_dir/attachments.
    attachments_dir: Path | None = None
    log_level: str = "INFO"
    timezone: str = "Europe/Istanbul"

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, values: Any) -> Any:
        """The database and the public address follow from the data directory, host and port."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        if not values.get("database_url"):
            data_dir = Path(values.get("data_dir") or "var")
            values["database_url"] = f"sqlite:///{(data_dir / 'ccm.db').as_posix()}"
        if not values.get("public_url"):
            values["public_url"] = f"http://{values.get('host') or '127.0.0.1'}:{values.get('port') or 8000}"
        return values

    @property
    def attachment_root(self) -> Path:
        return self.attachments_dir or self.data_dir / "attachments"


def settings_problem(wrong: ValidationError) -> str:
    """Which ``CCM_*`` variables cannot be read, and why: one line for an operator, not a traceback."""
    return "; ".join(
        f"CCM_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in wrong.errors()
    )
