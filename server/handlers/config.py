"""`model/list`, `experimentalFeature/list` and `config/read`: what this daemon is configured to do.

Contract: all three are read-only views of `app.settings`. Paging uses Codex's stringified-offset cursors; a
cursor this server never issued is -32600 `invalid cursor: <cursor>`, as Codex answers. `config/read` returns the effective config as an open snake_case
object: every key the schema's `Config` types is present (null when unset), plus `model_providers` (rendered
from the validated providers), `features` (resolved booleans) and every other key the user set. It never
carries a secret: environment values are never read here, `experimental_bearer_token` is dropped and literal
`http_headers` values are masked, in the merged config and in the layers alike. `origins` maps each dotted key
set by a layer to that layer; `layers` (with `includeLayers`) lists them highest precedence first, as Codex
does. `cwd` is accepted; Threadline has no project layers, so it changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec

from protocol._base import UNSET
from protocol._generated.methods import ClientMethod
from protocol._generated.types import (
    Config,
    ConfigLayer,
    ConfigLayerMetadata,
    ConfigLayerSource,
    ConfigReadParams,
    ConfigReadResponse,
    ExperimentalFeature,
    ExperimentalFeatureListParams,
    ExperimentalFeatureListResponse,
    ModelListParams,
    ModelListResponse,
    SessionFlagsConfigLayerSource,
    UserConfigLayerSource,
)
from protocol.schema import schema_bundle, validator_for

from ..config import ConfigError, Settings
from ..errors import InvalidRequest
from ..features import feature_rows
from ..features_cli import features_from_settings
from ..models import list_models
from ..providers import load_providers
from ..upstream.provider import ProviderInfo

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.connection import RequestContext
    from ..rpc.router import Router

__all__ = ["effective_config", "register"]

logger = logging.getLogger(__name__)

MASK = "<redacted>"
# Keys Codex's Config types that our schema leaves untyped; clients read them, so they are present too.
_CODEX_TYPED = ("forced_chatgpt_workspace_id", "forced_login_method", "tools", "analytics", "browser_use",
                "computer_use", "desktop", "apps", "openai_base_url")
# Legacy spellings Codex still accepts and reports under their current name.
_ALIASES: Mapping[str, Mapping[str, str]] = {"approval_policy": {"on-failure": "on-request"}}


def _given(value: Any) -> bool:
    return value is not UNSET and value is not None


# Tables whose every value may be a credential: literal headers, an MCP server's environment, query parameters
# (some gateways take the key there). `env_http_headers` is not among them: its values name variables.
_SECRET_MAPS = frozenset({"http_headers", "headers", "env", "query_params"})
# Keys whose value is a credential wherever they sit (bearer_token, experimental_bearer_token, api_key, ...).
_SECRET_KEY = re.compile(r"token|secret|password|(?<!env_)api_?key", re.IGNORECASE)
_DROPPED = frozenset({"experimental_bearer_token"})  # dropped outright, as before


def _sanitize(table: Mapping[str, Any]) -> dict[str, Any]:
    """A config table with every credential masked, at any depth (profiles, providers, MCP servers...)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in _DROPPED:
            continue
        if key in _SECRET_MAPS and isinstance(value, Mapping):
            out[key] = dict.fromkeys(value, MASK)
        elif isinstance(value, Mapping):
            out[key] = _sanitize(value)
        elif _SECRET_KEY.search(key) and isinstance(value, str):
            out[key] = MASK
        else:
            out[key] = value
    return out


def _provider_view(info: ProviderInfo) -> dict[str, Any]:
    # Names of environment variables are fine to show; their values are never read here.
    return {
        "name": info.name, "base_url": info.base_url, "env_key": info.env_key, "wire_api": info.wire_api,
        "query_params": dict.fromkeys(info.query_params, MASK) or None,
        "http_headers": dict.fromkeys(info.http_headers, MASK),
        "env_http_headers": dict(info.env_http_headers), "request_max_retries": info.request_max_retries,
        "stream_max_retries": info.stream_max_retries, "stream_idle_timeout_ms": info.stream_idle_timeout_ms,
        "requires_openai_auth": info.requires_openai_auth, "request_compression": info.request_compression,
        "inline_compaction": info.inline_compaction, "remote_compaction": info.remote_compaction,
    }


def _typed_keys() -> tuple[str, ...]:
    return (*schema_bundle()["$defs"]["Config"]["properties"], *_CODEX_TYPED)


def effective_config(settings: Settings) -> dict[str, Any]:
    """The `config` object of `config/read`; ConfigError when the provider tables cannot be used."""
    merged = settings.config
    out: dict[str, Any] = {key: value for key, value in _sanitize(merged).items() if key not in ("features",)}
    for key in _typed_keys():
        value = out.get(key)
        out[key] = _ALIASES.get(key, {}).get(value, value) if isinstance(value, str) else value
    # A typed key whose value breaks the schema would make the whole reply invalid; report it as unset.
    for error in validator_for("Config").iter_errors(out):
        if error.path and error.path[0] in out and out[error.path[0]] is not None:
            key = error.path[0]
            logger.warning("config key %s has an unusable value (%s); reported as null", key, error.message)
            out[key] = None
    providers = load_providers(settings)
    declared = merged.get("model_providers")
    out["model_providers"] = {pid: _provider_view(providers.by_id[pid]) for pid in (declared or {})}
    out.setdefault("profiles", {})
    features, _ = features_from_settings(settings)
    out["features"] = {spec.key: features.enabled(spec.key) for spec in features.specs()}
    return out


def _leaves(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            keys.extend(_leaves(value, path + "."))
        elif key != "experimental_bearer_token":
            keys.append(path)
    return keys


def _version(layer: Mapping[str, Any]) -> str:
    # A content fingerprint: the same table always hashes the same, whatever order its keys were written in.
    return "sha256:" + hashlib.sha256(msgspec.json.encode(layer, order="sorted")).hexdigest()


def _layers(settings: Settings) -> list[tuple[ConfigLayerSource, Mapping[str, Any]]]:
    """(source, raw table) per layer, highest precedence first; session flags only when any were given."""
    path = settings.config_path or settings.home / "config.toml"
    layers: list[tuple[ConfigLayerSource, Mapping[str, Any]]] = []
    if settings.session_flags:
        layers.append((SessionFlagsConfigLayerSource(), settings.session_flags))
    layers.append((UserConfigLayerSource(file=str(path), profile=None), settings.user_config))
    return layers


def read_config(settings: Settings, include_layers: bool) -> ConfigReadResponse:
    try:
        config = effective_config(settings)
    except ConfigError as exc:
        raise InvalidRequest(f"invalid configuration: {exc}") from exc
    layers = _layers(settings)
    origins: dict[str, ConfigLayerMetadata] = {}
    for source, table in reversed(layers):  # lowest first, so a higher layer overwrites the keys it sets
        meta = ConfigLayerMetadata(name=source, version=_version(table))
        origins.update(dict.fromkeys(_leaves(table), meta))
    listed = [ConfigLayer(name=source, version=_version(table), config=_sanitize(table)) for source, table in layers]
    # `config` is an open object on the wire; the generated Struct cannot hold untyped keys, so a dict goes out.
    return ConfigReadResponse(config=cast(Config, config), origins=origins,
                              layers=listed if include_layers else UNSET)


def _page_args(cursor: Any, limit: Any) -> tuple[str | None, int | None]:
    # limit 0 reads as 1, as Codex does, so a client paging with it still advances.
    return (cursor if _given(cursor) else None), (max(limit, 1) if _given(limit) else None)


def register(router: Router, app: App) -> None:
    settings = app.settings

    async def model_list(ctx: RequestContext, params: ModelListParams) -> ModelListResponse:
        cursor, limit = _page_args(params.cursor, params.limit)
        try:
            rows, next_cursor = list_models(settings, cursor, limit, include_hidden=params.include_hidden is True)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc  # -32600 "invalid cursor: …", as Codex answers
        return ModelListResponse(data=rows, next_cursor=next_cursor)

    async def feature_list(ctx: RequestContext, params: ExperimentalFeatureListParams) -> ExperimentalFeatureListResponse:
        # threadId is accepted: feature flags are process-wide today, so every thread sees the same state.
        cursor, limit = _page_args(params.cursor, params.limit)
        features, _ = features_from_settings(settings)
        total = len(features.specs())
        try:
            if cursor is not None and cursor.isascii() and cursor.isdigit() and int(cursor) > total:
                raise ValueError(f"cursor {cursor} exceeds total feature flags {total}")
            page = feature_rows(features, cursor=cursor, limit=limit)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc  # -32600 "invalid cursor: …", as Codex answers
        data = [ExperimentalFeature(name=row.name, stage=row.stage, enabled=row.enabled,
                                    default_enabled=row.default_enabled, display_name=row.display_name,
                                    description=row.description, announcement=row.announcement)
                for row in page.data]
        return ExperimentalFeatureListResponse(data=data, next_cursor=page.next_cursor)

    async def config_read(ctx: RequestContext, params: ConfigReadParams) -> ConfigReadResponse:
        return read_config(settings, include_layers=params.include_layers is True)

    router.add(ClientMethod.MODEL_LIST, model_list)
    router.add(ClientMethod.EXPERIMENTAL_FEATURE_LIST, feature_list)
    router.add(ClientMethod.CONFIG_READ, config_read)
