"""Provider tables from config: the built-in openai entry, custom providers, overrides and clear errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from server.config import ConfigError, Settings
from server.providers import active_provider, active_provider_id, load_providers, resolve_providers
from server.upstream.provider import OPENAI_API_URL, ProviderInfo


def settings(**config: Any) -> Settings:
    return Settings(home=Path("/nonexistent"), env={}, config=config, user_config=config)


GATEWAY = {
    "name": "Gateway",
    "base_url": "http://127.0.0.1:8080/v1/",
    "env_key": "GATEWAY_KEY",
    "wire_api": "responses",
    "http_headers": {"X-Team": "core"},
    "env_http_headers": {"X-Org": "GATEWAY_ORG"},
    "query_params": {"api-version": "2026-01-01"},
    "request_max_retries": 7,
    "stream_max_retries": 1000,
    "stream_idle_timeout_ms": 5_000,
    "request_compression": "off",
    "inline_compaction": True,
    "remote_compaction": "v2",
}


def test_with_no_provider_tables_only_the_builtin_openai_provider_exists_and_is_active() -> None:
    providers = resolve_providers(settings())
    assert list(providers) == ["openai"]
    openai = providers["openai"]
    assert openai.base_url == OPENAI_API_URL
    assert openai.env_key == "OPENAI_API_KEY"
    assert active_provider(settings()) == openai
    assert active_provider_id(settings()) == "openai"


def test_a_custom_provider_table_is_parsed_with_every_key() -> None:
    info = resolve_providers(settings(model_providers={"gw": GATEWAY}))["gw"]
    assert info == ProviderInfo(id="gw", **{**GATEWAY, "stream_max_retries": 100})  # type: ignore[arg-type]
    assert info.base_url == "http://127.0.0.1:8080/v1"
    assert info.stream_max_retries == 100, "retry counts are capped at 100"
    assert dict(info.env_http_headers) == {"X-Org": "GATEWAY_ORG"}


def test_model_provider_selects_a_custom_provider() -> None:
    cfg = settings(model_provider="gw", model_providers={"gw": GATEWAY})
    assert active_provider(cfg).id == "gw"


def test_a_provider_without_a_name_is_named_after_its_id() -> None:
    info = resolve_providers(settings(model_providers={"local": {"base_url": "http://127.0.0.1:1/v1"}}))["local"]
    assert info.name == "local"
    assert info.request_compression == "auto" and info.remote_compaction == "off"


def test_a_user_openai_table_overrides_fields_of_the_builtin_provider() -> None:
    openai = resolve_providers(settings(model_providers={"openai": {"request_max_retries": 2, "env_key": "MY_KEY"}}))
    info = openai["openai"]
    assert info.request_max_retries == 2
    assert info.env_key == "MY_KEY"
    assert info.base_url == OPENAI_API_URL
    assert info.inline_compaction and info.remote_compaction == "v1", "unset fields keep the built-in values"


def test_openai_base_url_points_the_builtin_provider_elsewhere() -> None:
    info = resolve_providers(settings(openai_base_url="http://127.0.0.1:9/v1"))["openai"]
    assert info.base_url == "http://127.0.0.1:9/v1"
    assert info.is_openai


def test_the_openai_tables_own_base_url_wins_over_openai_base_url() -> None:
    cfg = settings(openai_base_url="http://a/v1", model_providers={"openai": {"base_url": "http://b/v1"}})
    assert resolve_providers(cfg)["openai"].base_url == "http://b/v1"


def test_a_wire_api_other_than_responses_is_an_error_naming_the_provider() -> None:
    with pytest.raises(ConfigError, match=r"model_providers\.legacy\.wire_api.*'chat'"):
        load_providers(settings(model_providers={"legacy": {**GATEWAY, "wire_api": "chat"}}))


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("request_max_retries", "3", "model_providers.gw.request_max_retries"),
        ("stream_idle_timeout_ms", True, "model_providers.gw.stream_idle_timeout_ms"),
        ("stream_max_retries", -1, "model_providers.gw.stream_max_retries"),
        ("base_url", 42, "model_providers.gw.base_url"),
        ("http_headers", {"X-A": 1}, "model_providers.gw.http_headers.X-A"),
        ("query_params", "api-version=1", "model_providers.gw.query_params"),
        ("inline_compaction", "yes", "model_providers.gw.inline_compaction"),
        ("request_compression", "gzip", "model_providers.gw.request_compression"),
        ("remote_compaction", "v3", "model_providers.gw.remote_compaction"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_naming_its_key_path(key: str, value: Any, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_providers(settings(model_providers={"gw": {**GATEWAY, key: value}}))
    assert str(caught.value).startswith(path + ":")


def test_a_custom_provider_without_a_base_url_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"model_providers\.bare: missing required key 'base_url'"):
        load_providers(settings(model_providers={"bare": {"name": "Bare"}}))


def test_a_provider_entry_that_is_not_a_table_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"model_providers\.gw: expected a table"):
        load_providers(settings(model_providers={"gw": "http://x"}))


def test_an_unknown_model_provider_is_an_error_listing_the_known_ids() -> None:
    with pytest.raises(ConfigError, match=r"unknown model provider 'nope'; known providers: gw, openai"):
        active_provider(settings(model_provider="nope", model_providers={"gw": GATEWAY}))


def test_codex_only_and_unknown_provider_keys_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    table = {**GATEWAY, "supports_websockets": True, "websocket_connect_timeout_ms": 1, "colour": "blue"}
    with caplog.at_level(logging.WARNING, logger="server.providers"):
        providers = resolve_providers(settings(model_providers={"gw": table}))
    assert providers["gw"].name == "Gateway"
    messages = [record.getMessage() for record in caplog.records]
    assert "model_providers.gw.supports_websockets is not used by Threadline; ignored" in messages
    assert "model_providers.gw.colour is not a known provider key; ignored" in messages
    assert len(load_providers(settings(model_providers={"gw": table})).warnings) == 3


def test_parsing_never_reads_the_environment_only_the_variable_names() -> None:
    cfg = Settings(home=Path("/nonexistent"), env={"GATEWAY_KEY": "sk-sentinel-123"},
                   config={"model_providers": {"gw": GATEWAY}})
    info = resolve_providers(cfg)["gw"]
    assert "sk-sentinel-123" not in repr(info)
    assert info.env_key == "GATEWAY_KEY"
