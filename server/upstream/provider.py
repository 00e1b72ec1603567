"""What Threadline knows about one model provider: where it lives, how to authenticate, what it accepts.

Contract: `ProviderInfo` is immutable and already validated — retry counts are clamped to
[0, `MAX_RETRIES_CAP`] and the idle timeout to at least one millisecond, so the client never re-checks them.
Config parsing (TOML → `ProviderInfo`) lives elsewhere; this module only defines the shape, the defaults
Codex uses, and the built-in OpenAI provider. Secrets (`experimental_bearer_token`, header values) are kept
out of `repr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "CODEX_BACKEND_URL",
    "DEFAULT_REQUEST_MAX_RETRIES",
    "DEFAULT_STREAM_IDLE_TIMEOUT_MS",
    "DEFAULT_STREAM_MAX_RETRIES",
    "MAX_RETRIES_CAP",
    "OPENAI_API_URL",
    "OPENAI_PROVIDER_ID",
    "ProviderInfo",
    "RemoteCompaction",
    "RequestCompression",
    "builtin_openai",
]

OPENAI_PROVIDER_ID = "openai"
OPENAI_API_URL = "https://api.openai.com/v1"
# The ChatGPT-login ("Codex backend") endpoint; the only place `request_compression = "auto"` compresses.
CODEX_BACKEND_URL = "https://chatgpt.com/backend-api/codex"

DEFAULT_REQUEST_MAX_RETRIES = 4
DEFAULT_STREAM_MAX_RETRIES = 5
DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000
# Codex caps both retry knobs at 100 so a typo (e.g. 10000) cannot turn an outage into a day-long loop.
MAX_RETRIES_CAP = 100

RequestCompression = Literal["auto", "zstd", "off"]
RemoteCompaction = Literal["v1", "v2", "off"]


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


def _clamp(value: int, low: int, high: int | None = None) -> int:
    value = max(low, int(value))
    return value if high is None else min(value, high)


@dataclass(frozen=True, kw_only=True)
class ProviderInfo:
    """One `[model_providers.<id>]` entry, resolved.

    `http_headers` are sent as given; `env_http_headers` maps a header name to the environment variable that
    holds its value (sent only when the variable is set and non-empty). `query_params` are appended to every
    URL (Azure's `api-version`, for instance). `inline_compaction` says the provider accepts
    `context_management`; `remote_compaction` names the remote compaction flavour it offers
    (`"v1"`: `POST /responses/compact`, `"v2"`: a `compaction_trigger` input item on `/responses`).
    """

    id: str
    name: str
    base_url: str
    env_key: str | None = None
    wire_api: Literal["responses"] = "responses"
    http_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    env_http_headers: Mapping[str, str] = field(default_factory=dict)
    query_params: Mapping[str, str] = field(default_factory=dict)
    request_max_retries: int = DEFAULT_REQUEST_MAX_RETRIES
    stream_max_retries: int = DEFAULT_STREAM_MAX_RETRIES
    stream_idle_timeout_ms: int = DEFAULT_STREAM_IDLE_TIMEOUT_MS
    request_compression: RequestCompression = "auto"
    inline_compaction: bool = False
    remote_compaction: RemoteCompaction = "off"
    experimental_bearer_token: str | None = field(default=None, repr=False)
    requires_openai_auth: bool = False

    def __post_init__(self) -> None:
        if self.wire_api != "responses":
            raise ValueError(f"provider {self.id!r}: wire_api must be 'responses', got {self.wire_api!r}")
        if self.request_compression not in ("auto", "zstd", "off"):
            raise ValueError(f"provider {self.id!r}: request_compression must be auto, zstd or off")
        if self.remote_compaction not in ("v1", "v2", "off"):
            raise ValueError(f"provider {self.id!r}: remote_compaction must be v1, v2 or off")
        # Frozen dataclass: normalise through object.__setattr__ so callers can pass plain dicts safely.
        fix = object.__setattr__
        fix(self, "base_url", self.base_url.rstrip("/"))
        fix(self, "http_headers", _frozen(self.http_headers))
        fix(self, "env_http_headers", _frozen(self.env_http_headers))
        fix(self, "query_params", _frozen(self.query_params))
        fix(self, "request_max_retries", _clamp(self.request_max_retries, 0, MAX_RETRIES_CAP))
        fix(self, "stream_max_retries", _clamp(self.stream_max_retries, 0, MAX_RETRIES_CAP))
        fix(self, "stream_idle_timeout_ms", _clamp(self.stream_idle_timeout_ms, 1))

    @property
    def is_openai(self) -> bool:
        """The built-in OpenAI provider (whatever its base URL was pointed at)."""
        return self.id == OPENAI_PROVIDER_ID

    @property
    def uses_codex_backend(self) -> bool:
        """Whether requests go to the ChatGPT Codex backend rather than the public API or a gateway."""
        return self.base_url == CODEX_BACKEND_URL or self.base_url.startswith(CODEX_BACKEND_URL + "/")

    @property
    def stream_idle_timeout(self) -> float:
        """The idle timeout in seconds."""
        return self.stream_idle_timeout_ms / 1000

    def url(self, path: str) -> str:
        """`base_url` joined with `path` (which starts with a slash); query params are added by the client."""
        return self.base_url + path


def builtin_openai(*, base_url: str = OPENAI_API_URL, **overrides: object) -> ProviderInfo:
    """The built-in OpenAI provider.

    It may use a cached ChatGPT login (`requires_openai_auth`), accepts inline `context_management`, and
    offers `/responses/compact` (remote compaction v1). Pass `base_url=CODEX_BACKEND_URL` for a ChatGPT
    login; `overrides` replace any other field (config's `[model_providers.openai]` overrides).
    """
    fields: dict[str, object] = {
        "id": OPENAI_PROVIDER_ID,
        "name": "OpenAI",
        "base_url": base_url,
        "env_key": "OPENAI_API_KEY",
        "requires_openai_auth": True,
        "inline_compaction": True,
        "remote_compaction": "v1",
    }
    fields.update(overrides)
    return ProviderInfo(**fields)  # type: ignore[arg-type]  # keyword fields checked by the dataclass itself
