"""The credential for one upstream request, and — from that same value — whether its body is compressed.

Contract: `resolve_request_auth` is called once per request attempt and returns a `ResolvedAuth` holding
every header to send (Authorization, account id, the provider's static and env-sourced headers), where the
credential came from, and `compress`. Because compression is decided from the credential actually chosen,
the two can never disagree: this fixes the seed PR's bug, where a cached ChatGPT login switched compression
on while the bearer token came from the provider's `env_key` (so API-key gateways got zstd they cannot read).

Credential precedence (Codex's): the provider's `env_key` variable, then its `experimental_bearer_token`,
then the cached login — the last only for providers that `requires_openai_auth`, so a ChatGPT token is never
sent to a third-party host. No value from here is ever logged or put in an exception; `repr` redacts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from server.upstream.errors import MissingCredentials
from server.upstream.provider import ProviderInfo

__all__ = ["AuthSource", "CachedLogin", "Endpoint", "ResolvedAuth", "resolve_request_auth"]

AuthSource = Literal["env_key", "bearer_token", "chatgpt_login", "api_key_login", "none"]
Endpoint = Literal["responses", "compact"]


@dataclass(frozen=True, kw_only=True)
class CachedLogin:
    """A stored login. `kind="chatgpt"` is a ChatGPT/Codex-backend token; `"api_key"` a key saved at login."""

    token: str = field(repr=False)
    kind: Literal["chatgpt", "api_key"] = "chatgpt"
    account_id: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True, repr=False)
class ResolvedAuth:
    """Headers, credential source and compression decision for one request. `repr` shows header names only."""

    headers: Mapping[str, str]
    source: AuthSource
    compress: bool
    secrets: tuple[str, ...] = ()
    """Every credential value placed in `headers`, so error text echoed by the server can be scrubbed."""

    def __repr__(self) -> str:
        names = sorted(self.headers)
        return f"ResolvedAuth(source={self.source!r}, compress={self.compress}, headers={names})"

    __str__ = __repr__


def _choose_credential(
    provider: ProviderInfo, env: Mapping[str, str], cached_login: CachedLogin | None
) -> tuple[AuthSource, str | None, CachedLogin | None]:
    if provider.env_key:
        value = env.get(provider.env_key, "").strip()
        if value:
            return "env_key", value, None
    if provider.experimental_bearer_token:
        return "bearer_token", provider.experimental_bearer_token, None
    if cached_login is not None and provider.requires_openai_auth and cached_login.token:
        source: AuthSource = "chatgpt_login" if cached_login.kind == "chatgpt" else "api_key_login"
        return source, cached_login.token, cached_login
    if provider.env_key:
        # A provider that names a key variable needs it; sending nothing would only earn a 401 later.
        hint = " or log in" if provider.requires_openai_auth else ""
        raise MissingCredentials(f"no credential for provider {provider.id!r}: set {provider.env_key}{hint}")
    return "none", None, None


def _should_compress(
    provider: ProviderInfo,
    source: AuthSource,
    *,
    compression_feature: bool,
    endpoint: Endpoint,
    compression_refused: bool,
) -> bool:
    # The unary compact endpoint never takes a compressed body, and a provider that once refused one is
    # believed for the rest of the process, whatever its config says.
    if endpoint != "responses" or compression_refused:
        return False
    if provider.request_compression == "off":
        return False
    if provider.request_compression == "zstd":
        return True
    return compression_feature and source == "chatgpt_login" and provider.is_openai and provider.uses_codex_backend


# Header names whose values are credentials even when the provider configures them statically (Azure's api-key,
# a gateway's bearer): their values are redacted like the env key.
_CREDENTIAL_HEADER = re.compile(r"authorization|api[-_]?key|token|secret", re.IGNORECASE)


def _secret_parts(value: str) -> list[str]:
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    return [value, rest.strip()] if rest.strip() and scheme.lower() in ("bearer", "basic", "token") else [value]


def resolve_request_auth(
    provider: ProviderInfo,
    env: Mapping[str, str],
    *,
    cached_login: CachedLogin | None,
    compression_feature: bool,
    endpoint: Endpoint,
    compression_refused: bool,
) -> ResolvedAuth:
    """Choose this request's credential and headers, and decide compression from that same choice.

    `env` is the daemon's environment as the settings captured it. Compression policy: provider
    `request_compression="zstd"` forces it on, `"off"` forces it off; `"auto"` compresses only when the
    `compression_feature` is on, the credential is a ChatGPT login, and the provider is the built-in OpenAI
    one pointed at the Codex backend. Never for `endpoint="compact"`, never once `compression_refused`.

    Raises:
        MissingCredentials: the provider names an `env_key` that is unset and no other credential applies.
    """
    source, token, login = _choose_credential(provider, env, cached_login)
    headers: dict[str, str] = dict(provider.http_headers)
    secrets: list[str] = [part for name, value in headers.items() if _CREDENTIAL_HEADER.search(name)
                          for part in _secret_parts(value)]
    for header, variable in provider.env_http_headers.items():
        value = env.get(variable, "").strip()
        if value:
            headers[header] = value
            secrets.append(value)
    if token is not None:
        # The chosen credential authorizes the request (and decided compression): an Authorization header the
        # provider also configures, in whatever case, must not ride along as a second, competing one.
        for name in [name for name in headers if name.lower() == "authorization"]:
            del headers[name]
        headers["Authorization"] = f"Bearer {token}"
        secrets.append(token)
    if login is not None and login.kind == "chatgpt" and login.account_id:
        headers["ChatGPT-Account-ID"] = login.account_id
    compress = _should_compress(
        provider,
        source,
        compression_feature=compression_feature,
        endpoint=endpoint,
        compression_refused=compression_refused,
    )
    return ResolvedAuth(headers=headers, source=source, compress=compress, secrets=tuple(secrets))
