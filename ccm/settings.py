"""The product's one settings object, built once when a process starts and passed down by section.

Each section reads its own ``CCM_*`` variables (see docs/settings.md); building them reads the
environment and writes nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from admin.training import TrainingSettings
from ccm_core.settings import CoreSettings
from channels.settings import AssistantSettings, ChannelSettings


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    core: CoreSettings
    channels: ChannelSettings
    assistant: AssistantSettings
    training: TrainingSettings


def load_settings() -> Settings:
    """Every section from the environment; training reaches the same Rasa server as the channels."""
    assistant = AssistantSettings()
    return Settings(
        core=CoreSettings(),
        channels=ChannelSettings(),
        assistant=assistant,
        training=TrainingSettings(assistant=assistant),
    )
