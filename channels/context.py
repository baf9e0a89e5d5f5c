"""What every channel adapter needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from ccm_core.bootstrap import Core
from ccm_core.service_layer.ports import Guard
from channels.inbound import AsyncRasa, Inbound
from channels.settings import AssistantSettings, ChannelSettings


@dataclass(frozen=True)
class ChannelContext:
    core: Core
    settings: ChannelSettings
    guard: Guard
    rasa: AsyncRasa
    inbound: Inbound


def channel_context(core: Core, settings: ChannelSettings, assistant: AssistantSettings) -> ChannelContext:
    guard = core.guard()
    rasa = AsyncRasa(assistant.rasa_url, assistant.rasa_token)
    return ChannelContext(core, settings, guard, rasa, Inbound(core, rasa, guard, settings.chat_rate_limit))
