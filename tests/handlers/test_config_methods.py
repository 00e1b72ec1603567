"""model/list, experimentalFeature/list and config/read through the in-memory client (replies schema-checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from protocol._generated.methods import ClientMethod
from protocol.client import RpcFailure
from protocol.jsonrpc import INVALID_REQUEST
from server.models import CATALOG, DEFAULT_MODEL
from tests.harness import running_server

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
VISIBLE = [entry.slug for entry in CATALOG if not entry.hidden]
MODEL_KEYS = {"id", "model", "displayName", "description", "hidden", "isDefault", "supportedReasoningEfforts",
              "defaultReasoningEffort", "inputModalities", "supportsPersonality", "serviceTiers",
              "defaultServiceTier", "additionalSpeedTiers", "upgrade", "upgradeInfo", "availabilityNux",
              "modelSpecialty", "multiAgentVersion", "availableAccessPrograms"}  # every key codex-cli 0.163.0 sends
THREE = ("server_side_compaction", "remote_compaction", "enable_request_compression")


async def test_model_list_returns_every_visible_model_with_every_key_on_one_page(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        result = await h.client.request(ClientMethod.MODEL_LIST, {"includeHidden": False})
    assert [row["id"] for row in result["data"]] == VISIBLE
    assert result["nextCursor"] is None
    assert all(set(row) == MODEL_KEYS for row in result["data"])
    assert [row["id"] for row in result["data"] if row["isDefault"]] == [DEFAULT_MODEL]


async def test_model_list_pages_with_cursors_and_include_hidden_adds_hidden_models(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        first = await h.client.request(ClientMethod.MODEL_LIST, {"limit": 2})
        second = await h.client.request(ClientMethod.MODEL_LIST, {"limit": 2, "cursor": first["nextCursor"]})
        everything = await h.client.request(ClientMethod.MODEL_LIST, {"includeHidden": True})
    assert first["nextCursor"] == "2"
    assert [row["id"] for row in first["data"] + second["data"]] == VISIBLE[:4]
    hidden = [row["id"] for row in everything["data"] if row["hidden"]]
    assert hidden and not set(hidden) & set(VISIBLE)


@pytest.mark.parametrize("cursor", ["not-a-number", "999"])
async def test_model_list_rejects_a_cursor_it_never_issued_in_codex_words(tmp_path: Path, cursor: str) -> None:
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as caught:
            await h.client.request(ClientMethod.MODEL_LIST, {"cursor": cursor})
    assert caught.value.code == INVALID_REQUEST and cursor in caught.value.message
    if not cursor.isdigit():
        assert caught.value.message == f"invalid cursor: {cursor}"  # Codex's words for garbage


async def test_feature_list_shows_the_three_flags_with_server_side_compaction_off_by_default(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        result = await h.client.request(ClientMethod.EXPERIMENTAL_FEATURE_LIST, {})
    rows = {row["name"]: row for row in result["data"]}
    assert set(THREE) <= set(rows)
    assert result["nextCursor"] is None
    ssc = rows["server_side_compaction"]
    assert (ssc["stage"], ssc["enabled"], ssc["defaultEnabled"]) == ("underDevelopment", False, False)
    assert ssc["displayName"] is None and ssc["description"] is None and ssc["announcement"] is None
    assert rows["remote_compaction"]["enabled"] and rows["enable_request_compression"]["enabled"]


async def test_feature_list_reflects_an_enable_override(tmp_path: Path) -> None:
    overrides = ["features.server_side_compaction=true", "features.enable_request_compression=false"]
    async with running_server(tmp_path, overrides=overrides) as h:
        result = await h.client.request(ClientMethod.EXPERIMENTAL_FEATURE_LIST, {"threadId": "any-thread"})
    rows = {row["name"]: row for row in result["data"]}
    assert rows["server_side_compaction"]["enabled"] is True
    assert rows["server_side_compaction"]["defaultEnabled"] is False
    assert rows["enable_request_compression"]["enabled"] is False


async def test_feature_list_pages_one_flag_at_a_time(tmp_path: Path) -> None:
    names: list[str] = []
    cursor: str | None = None
    async with running_server(tmp_path) as h:
        for _ in range(10):
            params: dict[str, object] = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
            page = await h.client.request(ClientMethod.EXPERIMENTAL_FEATURE_LIST, params)
            assert len(page["data"]) == 1
            names.append(page["data"][0]["name"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        with pytest.raises(RpcFailure) as caught:
            await h.client.request(ClientMethod.EXPERIMENTAL_FEATURE_LIST, {"cursor": "x"})
    assert tuple(names[:3]) == THREE
    assert (caught.value.code, caught.value.message) == (INVALID_REQUEST, "invalid cursor: x")


async def test_config_read_reflects_overrides_and_says_where_each_key_came_from(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('model = "gpt-5.1"\ncompact_prompt = "Summarise."\n', encoding="utf-8")
    overrides = ["model_context_window=100000", "features.server_side_compaction=true"]
    async with running_server(tmp_path, overrides=overrides) as h:
        result = await h.client.request(ClientMethod.CONFIG_READ, {"includeLayers": True})
        plain = await h.client.request(ClientMethod.CONFIG_READ, {})
    config, origins = result["config"], result["origins"]
    assert config["model"] == "gpt-5.1" and config["compact_prompt"] == "Summarise."
    assert config["model_context_window"] == 100000
    assert config["model_auto_compact_token_limit"] is None and config["sandbox_mode"] is None
    assert config["features"] == {"server_side_compaction": True, "remote_compaction": True,
                                  "enable_request_compression": True}
    assert config["model_providers"] == {}
    user = {"type": "user", "file": str(tmp_path / "config.toml"), "profile": None}
    assert origins["model"]["name"] == user
    assert origins["model_context_window"]["name"] == {"type": "sessionFlags"}
    assert origins["features.server_side_compaction"]["name"] == {"type": "sessionFlags"}
    assert origins["model"]["version"].startswith("sha256:")
    assert [layer["name"]["type"] for layer in result["layers"]] == ["sessionFlags", "user"]
    assert result["layers"][1]["config"] == {"model": "gpt-5.1", "compact_prompt": "Summarise."}
    assert "layers" not in plain
    assert plain["origins"] == origins, "layer versions are stable content hashes"


async def test_config_read_never_contains_a_secret(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'model_provider = "gw"\n'
        "[model_providers.gw]\n"
        'name = "Gateway"\nbase_url = "http://127.0.0.1:9/v1"\nenv_key = "GW_API_KEY"\n'
        'experimental_bearer_token = "sk-sentinel-bearer"\n'
        'http_headers = { Authorization = "Bearer sk-sentinel-literal" }\n'
        'env_http_headers = { X-Org = "GW_ORG" }\n'
        'query_params = { api-key = "sk-sentinel-query" }\n'
        "[mcp_servers.docs]\n"
        'url = "https://mcp.example/docs"\nbearer_token = "sk-sentinel-mcp"\n'
        'http_headers = { X-Key = "sk-sentinel-mcphdr" }\n'
        "[mcp_servers.local]\n"
        'command = "docs-server"\nenv = { DOCS_TOKEN = "sk-sentinel-mcpenv" }\n'
        "[profiles.work]\n"
        'model = "gpt-5.1-codex"\n'
        "[profiles.work.model_providers.y]\n"
        'name = "Y"\nexperimental_bearer_token = "sk-sentinel-profile"\napi_key = "sk-sentinel-profkey"\n',
        encoding="utf-8",
    )
    env = {"OPENAI_API_KEY": "sk-sentinel-123", "GW_API_KEY": "sk-sentinel-gw", "GW_ORG": "sk-sentinel-org"}
    overrides = ['model_providers.openai.experimental_bearer_token="sk-sentinel-flag"']
    async with running_server(tmp_path, env=env, overrides=overrides) as h:
        result = await h.client.request(ClientMethod.CONFIG_READ, {"includeLayers": True})
        text = b"".join(msgspec.json.encode(message) for message in h.witness.seen).decode()
    gateway = result["config"]["model_providers"]["gw"]
    assert gateway["env_key"] == "GW_API_KEY"
    assert gateway["env_http_headers"] == {"X-Org": "GW_ORG"}
    assert set(gateway["http_headers"]) == {"Authorization"}
    assert "sk-sentinel" not in text
    assert "experimental_bearer_token" not in text


async def test_config_read_names_the_bad_provider_key(tmp_path: Path) -> None:
    overrides = ['model_providers.old.base_url="http://127.0.0.1:9/v1"', 'model_providers.old.wire_api="chat"']
    async with running_server(tmp_path, overrides=overrides) as h:
        with pytest.raises(RpcFailure) as caught:
            await h.client.request(ClientMethod.CONFIG_READ, {})
    assert caught.value.code == INVALID_REQUEST
    assert "model_providers.old.wire_api" in caught.value.message


def test_features_list_command_prints_the_three_flags(tmp_path: Path) -> None:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "server", "--enable", "server_side_compaction", "-c", "features.typo=true",
         "features", "list"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "stage", "enabled", "default"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["server_side_compaction"] == ["underDevelopment", "true", "false"]
    assert rows["remote_compaction"] == ["stable", "true", "true"]
    assert rows["enable_request_compression"] == ["stable", "true", "true"]
    assert "unknown feature `typo`" in done.stderr
