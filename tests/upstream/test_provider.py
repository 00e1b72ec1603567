"""ProviderInfo: Codex's defaults, clamped knobs, and the built-in OpenAI provider."""

from __future__ import annotations

import pytest

from server.upstream.provider import CODEX_BACKEND_URL, ProviderInfo, builtin_openai


def test_defaults_match_codex() -> None:
    provider = ProviderInfo(id="p", name="P", base_url="http://h/v1/")
    assert (provider.request_max_retries, provider.stream_max_retries) == (4, 5)
    assert provider.stream_idle_timeout_ms == 300_000
    assert (provider.request_compression, provider.inline_compaction, provider.remote_compaction) == (
        "auto",
        False,
        "off",
    )
    assert provider.url("/responses") == "http://h/v1/responses"


def test_retry_knobs_are_capped_at_100_and_never_negative() -> None:
    provider = ProviderInfo(id="p", name="P", base_url="u", request_max_retries=10_000, stream_max_retries=-3)
    assert (provider.request_max_retries, provider.stream_max_retries) == (100, 0)


def test_builtin_openai_is_openai_and_only_on_the_codex_url_uses_the_codex_backend() -> None:
    public = builtin_openai()
    assert public.is_openai and public.name == "OpenAI" and public.env_key == "OPENAI_API_KEY"
    assert public.base_url == "https://api.openai.com/v1" and not public.uses_codex_backend
    assert public.inline_compaction and public.requires_openai_auth
    assert builtin_openai(base_url=CODEX_BACKEND_URL + "/").uses_codex_backend


def test_headers_given_as_dicts_cannot_be_mutated_afterwards() -> None:
    headers = {"X": "1"}
    provider = ProviderInfo(id="p", name="P", base_url="u", http_headers=headers)
    headers["X"] = "2"
    assert provider.http_headers["X"] == "1"
    with pytest.raises(TypeError):
        provider.http_headers["Y"] = "3"  # type: ignore[index]  # proving it is read-only


@pytest.mark.parametrize("field", ["request_compression", "remote_compaction", "wire_api"])
def test_unknown_enum_values_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ProviderInfo(id="p", name="P", base_url="u", **{field: "bogus"})  # type: ignore[arg-type]
