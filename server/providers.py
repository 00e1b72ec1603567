"""Config → model providers: the built-in `openai` entry plus every `[model_providers.<id>]` table.

Contract: `load_providers(settings)` validates every provider table and returns a `Providers` holder (the
resolved `ProviderInfo`s, the active id and the warnings worth logging); it raises `ConfigError` naming the
offending key path (`model_providers.<id>.<key>`) for any value it cannot use. Keys follow Codex's
`config.toml`; Threadline adds `request_compression`, `inline_compaction` and `remote_compaction`. Codex keys
Threadline has no use for (`supports_websockets`, ...) and unknown keys are ignored with a warning, so a
config shared with Codex still loads. A table named `openai` overrides fields of the built-in provider, whose
`base_url` may also come from the top-level `openai_base_url`. Nothing here reads the environment: `env_key`
and `env_http_headers` are variable *names*, looked up per request by the auth layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import ConfigError, Settings
from .upstream.provider import OPENAI_PROVIDER_ID, ProviderInfo, builtin_openai

__all__ = [
    "IGNORED_PROVIDER_KEYS",
    "Providers",
    "active_provider",
    "active_provider_id",
    "load_providers",
    "resolve_providers",
]

logger = logging.getLogger(__name__)

# Codex provider keys that parse but change nothing here (no websocket transport, no catalog discovery, no
# provider auth commands); accepted so one config.toml serves both, with a warning so nobody relies on them.
IGNORED_PROVIDER_KEYS = frozenset({
    "supports_websockets",
    "websocket_connect_timeout_ms",
    "supports_standalone_web_search",
    "env_key_instructions",
    "model_catalog_url",
    "capabilities",
    "auth",
    "aws",
    "gateway_oauth",
})

_STRINGS = ("name", "base_url", "env_key", "experimental_bearer_token")
_STRING_MAPS = ("http_headers", "env_http_headers", "query_params")
_INTS = ("request_max_retries", "stream_max_retries", "stream_idle_timeout_ms")
_BOOLS = ("inline_compaction", "requires_openai_auth")
_CHOICES: dict[str, tuple[str, ...]] = {
    "wire_api": ("responses",),
    "request_compression": ("auto", "zstd", "off"),
    "remote_compaction": ("v1", "v2", "off"),
}
_KNOWN = frozenset((*_STRINGS, *_STRING_MAPS, *_INTS, *_BOOLS, *_CHOICES))


def _type_name(value: object) -> str:
    return type(value).__name__


def _field(path: str, key: str, value: Any) -> Any:
    """Check one provider key's value; returns it (copied for maps) or raises ConfigError naming `path.key`."""
    where = f"{path}.{key}"
    if key in _STRINGS:
        if not isinstance(value, str) or (key in ("name", "base_url") and not value.strip()):
            raise ConfigError(f"{where}: expected a non-empty string, got {_type_name(value)} {value!r}")
        return value
    if key in _STRING_MAPS:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of strings, got {_type_name(value)}")
        for name, item in value.items():
            if not isinstance(item, str):
                raise ConfigError(f"{where}.{name}: expected a string, got {_type_name(item)}")
        return dict(value)
    if key in _INTS:
        # bool is an int subclass; `retries = true` is a mistake worth naming, not the number 1.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: expected a non-negative integer, got {value!r}")
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    choices = _CHOICES[key]
    if value not in choices:
        hint = " (Threadline speaks only the Responses API)" if key == "wire_api" else ""
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
    return value


def _parse_table(provider_id: str, table: Any, warnings: list[str]) -> dict[str, Any]:
    path = f"model_providers.{provider_id}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: expected a table, got {_type_name(table)}")
    fields: dict[str, Any] = {}
    for key, value in table.items():
        if key in IGNORED_PROVIDER_KEYS:
            warnings.append(f"{path}.{key} is not used by Threadline; ignored")
        elif key not in _KNOWN:
            warnings.append(f"{path}.{key} is not a known provider key; ignored")
        else:
            fields[key] = _field(path, key, value)
    return fields


def _build(provider_id: str, fields: dict[str, Any], openai_base_url: str | None) -> ProviderInfo:
    path = f"model_providers.{provider_id}"
    try:
        if provider_id == OPENAI_PROVIDER_ID:
            # The table's own base_url is the more specific setting, so it wins over openai_base_url.
            base_url = fields.pop("base_url", None) or openai_base_url
            return builtin_openai(**fields) if base_url is None else builtin_openai(base_url=base_url, **fields)
        missing = [key for key in ("base_url",) if key not in fields]
        if missing:
            raise ConfigError(f"{path}: missing required key {missing[0]!r}")
        fields.setdefault("name", provider_id)
        return ProviderInfo(id=provider_id, **fields)
    except ValueError as exc:  # ProviderInfo re-checks its invariants; keep the message, add where it came from
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Providers:
    """Every usable provider by id, which one `model_provider` selects, and what was ignored on the way."""

    by_id: Mapping[str, ProviderInfo]
    active_id: str
    warnings: tuple[str, ...] = ()

    @property
    def active(self) -> ProviderInfo:
        return self.by_id[self.active_id]

    def get(self, provider_id: str) -> ProviderInfo:
        """The provider `provider_id` (e.g. a thread's `modelProvider`); ConfigError lists the known ids."""
        info = self.by_id.get(provider_id)
        if info is None:
            known = ", ".join(sorted(self.by_id))
            raise ConfigError(f"unknown model provider {provider_id!r}; known providers: {known}")
        return info


def load_providers(settings: Settings) -> Providers:
    """Resolve and validate every provider in `settings`; raises ConfigError on the first unusable value."""
    warnings: list[str] = []
    openai_base_url = settings.get("openai_base_url")
    if openai_base_url is not None and (not isinstance(openai_base_url, str) or not openai_base_url.strip()):
        raise ConfigError(f"openai_base_url: expected a non-empty string, got {openai_base_url!r}")
    tables = settings.get("model_providers", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(f"model_providers: expected a table of provider tables, got {_type_name(tables)}")
    parsed = {str(pid): _parse_table(str(pid), table, warnings) for pid, table in tables.items()}
    by_id: dict[str, ProviderInfo] = {}
    # The built-in comes first so listings start with it; a user `openai` table only refines it.
    by_id[OPENAI_PROVIDER_ID] = _build(OPENAI_PROVIDER_ID, parsed.pop(OPENAI_PROVIDER_ID, {}), openai_base_url)
    for pid, fields in parsed.items():
        by_id[pid] = _build(pid, fields, None)
    active_id = settings.get("model_provider") or OPENAI_PROVIDER_ID
    if not isinstance(active_id, str):
        raise ConfigError(f"model_provider: expected a provider id string, got {active_id!r}")
    providers = Providers(by_id, active_id, tuple(warnings))
    providers.get(active_id)  # fail at load, not at the first turn, when model_provider names nothing
    return providers


def resolve_providers(settings: Settings) -> dict[str, ProviderInfo]:
    """Every provider by id (the built-in `openai` first); logs the ignored-key warnings; ConfigError on bad input."""
    providers = load_providers(settings)
    for warning in providers.warnings:
        logger.warning("%s", warning)
    return dict(providers.by_id)


def active_provider_id(settings: Settings) -> str:
    """The `model_provider` key, defaulting to `openai`; ConfigError when it names no provider."""
    return load_providers(settings).active_id


def active_provider(settings: Settings) -> ProviderInfo:
    """The provider `model_provider` selects (default `openai`); ConfigError listing known ids when unknown."""
    return load_providers(settings).active
