"""One resolved credential per request, and the compression decision taken from that same value.

Protocol background (COMPACTION.md §4): compressing is only safe where the endpoint decodes zstd, which for
`"auto"` means a ChatGPT login talking to the Codex backend. The seed PR compressed whenever a cached login
existed, even when the bearer actually sent came from `env_key` — the cases below pin the fix.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.upstream.auth import CachedLogin, resolve_request_auth
from server.upstream.errors import MissingCredentials
from server.upstream.provider import CODEX_BACKEND_URL, ProviderInfo, builtin_openai

CHATGPT = CachedLogin(token="chatgpt-token-secret", account_id="acct-1")
API_KEY_LOGIN = CachedLogin(token="sk-login-secret", kind="api_key")
ENV = {"OPENAI_API_KEY": "sk-env-secret"}


def resolve(provider: ProviderInfo, env: dict[str, str] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    kwargs.setdefault("cached_login", None)
    kwargs.setdefault("compression_feature", True)
    kwargs.setdefault("endpoint", "responses")
    kwargs.setdefault("compression_refused", False)
    return resolve_request_auth(provider, env or {}, **kwargs)


CODEX = builtin_openai(base_url=CODEX_BACKEND_URL)
PUBLIC = builtin_openai()
CUSTOM = ProviderInfo(id="gw", name="Gateway", base_url="https://gw.example/v1", env_key="GW_KEY")


def test_chatgpt_login_on_the_codex_backend_compresses() -> None:
    auth = resolve(CODEX, cached_login=CHATGPT)
    assert (auth.source, auth.compress) == ("chatgpt_login", True)
    assert auth.headers["Authorization"] == "Bearer chatgpt-token-secret"
    assert auth.headers["ChatGPT-Account-ID"] == "acct-1"


def test_env_key_wins_over_a_cached_chatgpt_login_and_then_nothing_is_compressed() -> None:
    # The seed PR's bug: the cached login said "compress" while the env key was the credential sent.
    auth = resolve(CODEX, ENV, cached_login=CHATGPT)
    assert (auth.source, auth.compress) == ("env_key", False)
    assert auth.headers["Authorization"] == "Bearer sk-env-secret"
    assert "ChatGPT-Account-ID" not in auth.headers


def test_feature_off_never_compresses_in_auto_mode() -> None:
    assert resolve(CODEX, cached_login=CHATGPT, compression_feature=False).compress is False


def test_bearer_token_beats_the_cached_login_and_is_not_compressed() -> None:
    provider = builtin_openai(base_url=CODEX_BACKEND_URL, experimental_bearer_token="bearer-secret")
    auth = resolve(provider, cached_login=CHATGPT)
    assert (auth.source, auth.compress) == ("bearer_token", False)
    assert auth.headers["Authorization"] == "Bearer bearer-secret"


def test_a_cached_api_key_login_is_not_compressed() -> None:
    auth = resolve(CODEX, cached_login=API_KEY_LOGIN)
    assert (auth.source, auth.compress) == ("api_key_login", False)


def test_chatgpt_login_against_the_public_api_is_not_compressed() -> None:
    assert resolve(PUBLIC, cached_login=CHATGPT).compress is False


def test_a_custom_provider_never_receives_the_chatgpt_token() -> None:
    provider = ProviderInfo(id="local", name="Local", base_url="http://127.0.0.1:1/v1")
    auth = resolve(provider, cached_login=CHATGPT)
    assert (auth.source, auth.compress) == ("none", False)
    assert "Authorization" not in auth.headers


def test_a_custom_provider_named_like_openai_on_the_codex_url_is_still_not_builtin() -> None:
    lookalike = ProviderInfo(id="mine", name="OpenAI", base_url=CODEX_BACKEND_URL, requires_openai_auth=True)
    assert resolve(lookalike, cached_login=CHATGPT).compress is False


@pytest.mark.parametrize("provider", [CUSTOM, PUBLIC, CODEX])
def test_provider_zstd_forces_compression_on_for_responses(provider: ProviderInfo) -> None:
    forced = ProviderInfo(**{**provider.__dict__, "request_compression": "zstd"})
    env = {"GW_KEY": "k", **ENV}
    assert resolve(forced, env, compression_feature=False).compress is True


def test_provider_off_forces_compression_off_even_for_a_codex_login() -> None:
    off = builtin_openai(base_url=CODEX_BACKEND_URL, request_compression="off")
    assert resolve(off, cached_login=CHATGPT).compress is False


@pytest.mark.parametrize("mode", ["auto", "zstd"])
def test_the_compact_endpoint_is_never_compressed(mode: str) -> None:
    provider = builtin_openai(base_url=CODEX_BACKEND_URL, request_compression=mode)
    assert resolve(provider, cached_login=CHATGPT, endpoint="compact").compress is False


@pytest.mark.parametrize("mode", ["auto", "zstd"])
def test_after_a_refusal_nothing_is_compressed(mode: str) -> None:
    provider = builtin_openai(base_url=CODEX_BACKEND_URL, request_compression=mode)
    assert resolve(provider, cached_login=CHATGPT, compression_refused=True).compress is False


def test_a_missing_env_key_with_no_other_credential_is_an_error_naming_the_variable() -> None:
    with pytest.raises(MissingCredentials, match="GW_KEY") as caught:
        resolve(CUSTOM)
    assert caught.value.codex_error_info() == "unauthorized"


def test_provider_headers_and_env_headers_are_sent_and_env_values_count_as_secrets() -> None:
    provider = ProviderInfo(
        id="gw",
        name="Gateway",
        base_url="https://gw.example/v1",
        http_headers={"X-Team": "blue"},
        env_http_headers={"X-Api-Key": "GW_HEADER_KEY", "X-Absent": "UNSET_VAR"},
    )
    auth = resolve(provider, {"GW_HEADER_KEY": "hdr-secret"})
    assert auth.headers == {"X-Team": "blue", "X-Api-Key": "hdr-secret"}
    assert "hdr-secret" in auth.secrets


def test_resolved_auth_repr_names_headers_but_never_values() -> None:
    auth = resolve(CODEX, ENV, cached_login=CHATGPT)
    text = repr(auth) + str(auth) + repr(CHATGPT) + repr(builtin_openai(experimental_bearer_token="bt-secret"))
    for secret in ("sk-env-secret", "chatgpt-token-secret", "acct-1", "bt-secret"):
        assert secret not in text
    assert "Authorization" in repr(auth)


def test_the_chosen_credential_replaces_an_authorization_header_the_provider_also_configures() -> None:
    provider = ProviderInfo(id="gw", name="Gateway", base_url="https://gw.example/v1", env_key="GW_KEY",
                            http_headers={"authorization": "Bearer static-gw", "X-Team": "blue"})
    auth = resolve(provider, {"GW_KEY": "sk-envkey"})
    assert auth.headers == {"X-Team": "blue", "Authorization": "Bearer sk-envkey"}  # one credential, not two
    assert "static-gw" in auth.secrets and "sk-envkey" in auth.secrets


def test_static_credential_headers_count_as_secrets_and_plain_ones_do_not() -> None:
    provider = ProviderInfo(id="az", name="Azure", base_url="https://az.example/openai",
                            http_headers={"api-key": "azure-static-key", "OpenAI-Beta": "responses=v1"})
    auth = resolve(provider)
    assert auth.headers["api-key"] == "azure-static-key"
    assert auth.secrets == ("azure-static-key",)
