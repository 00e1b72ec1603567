"""``TurnServices``: what turns share across threads — providers and their HTTP clients, the model catalog,
feature flags, what we learned about each provider at run time, and the lane turns start up in.

One ``httpx.AsyncClient`` (and so one connection pool) per provider, created on first use over the transport the
``http_transport`` setting names (``upstream/http.py``); credentials are resolved per request from the settings'
environment snapshot, never cached here. Runtime learnings (a provider that rejected ``context_management``, or
has no ``/responses/compact``) are remembered for the life of the daemon so a fallback is paid for once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anyio
import httpx

from ..config import ConfigError, Settings
from ..features import ENABLE_REQUEST_COMPRESSION, Features
from ..features_cli import features_from_settings
from ..models import ModelInfo, model_info
from ..providers import Providers, load_providers
from ..upstream.client import ResponsesClient
from ..upstream.http import open_http, prepare, transport_name
from ..upstream.provider import ProviderInfo
from .startup_lane import StartupLane
from .turn import TurnFailed, turn_error

__all__ = ["ProviderState", "TurnServices"]

logger = logging.getLogger(__name__)


@dataclass
class ProviderState:
    """Run-time facts about one provider (not config: discovered by talking to it)."""

    inline_rejected: bool = False
    compact_endpoint_missing: bool = False
    trigger_rejected: bool = False


@dataclass
class TurnServices:
    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None
    features: Features = field(init=False)
    _providers: Providers | None = field(init=False, default=None)
    _clients: dict[str, ResponsesClient] = field(init=False, default_factory=dict)
    _http: list[httpx.AsyncClient] = field(init=False, default_factory=list)
    state: dict[str, ProviderState] = field(init=False, default_factory=dict)
    startup_lane: StartupLane = field(default_factory=StartupLane)

    def __post_init__(self) -> None:
        self.features, warnings = features_from_settings(self.settings)
        for warning in warnings:
            logger.warning("%s", warning)

    def _failed(self, message: str) -> TurnFailed:
        return TurnFailed(turn_error(message, "badRequest"))

    def provider(self, provider_id: str) -> ProviderInfo:
        try:
            if self._providers is None:
                self._providers = load_providers(self.settings)
            return self._providers.get(provider_id)
        except ConfigError as exc:
            raise self._failed(f"model provider configuration: {exc}") from exc

    def provider_state(self, provider_id: str) -> ProviderState:
        return self.state.setdefault(provider_id, ProviderState())

    def model(self, slug: str) -> ModelInfo:
        try:
            return model_info(self.settings, slug)
        except ConfigError as exc:
            raise self._failed(f"model configuration: {exc}") from exc

    def client(self, provider_id: str) -> ResponsesClient:
        client = self._clients.get(provider_id)
        if client is None:
            provider = self.provider(provider_id)
            http = open_http(self._http_transport(), transport=self.transport)
            self._http.append(http)
            client = ResponsesClient(provider, http, self.settings.env,
                                     compression_feature=self.features.enabled(ENABLE_REQUEST_COMPRESSION))
            self._clients[provider_id] = client
        return client

    def _http_transport(self) -> str:
        try:
            return transport_name(self.settings.get("http_transport"))
        except ValueError as exc:
            raise self._failed(f"configuration: {exc}") from exc

    async def prepare_http(self) -> None:
        """Do the first HTTP client's slow set-up in a worker thread (run at start-up, beside the handshake)."""
        try:
            name = self._http_transport()
        except TurnFailed:
            return  # the first turn reports it
        if self.transport is None:
            await anyio.to_thread.run_sync(prepare, name)

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()
        self._http.clear()
        self._clients.clear()
