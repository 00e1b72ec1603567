"""The config keys a thread's settings come from, read and checked: ``config.toml`` and ``-c`` for a new thread,
under the ``config`` map of ``thread/start``, ``thread/resume`` or ``thread/fork``.

Contract:
- ``overrides`` is Codex's shape: keys are config paths (``"model"``, ``"model_reasoning_effort"``, dotted
  ``"features.x"``), values are what ``config.toml`` would hold there. They win over the daemon's config;
  the explicit fields of the request (``model``, ``cwd``, …) win over them.
- ``settings_changes`` maps the keys a thread reads onto ``ThreadSettings`` fields, checking each value. A value
  of the wrong type or outside its choices, or a ``model_provider`` nobody configured, raises
  ``InvalidRequest`` with a message starting "failed to load configuration:", as Codex refuses such a thread.
- ``checked`` does the same for the explicit fields of a request (thread/start, resume, fork, turn/start),
  already typed by the schema: a blank model and an unconfigured provider are refused, a tier normalized, a
  cwd made absolute.
- ``service_tier`` follows Codex: ``fast`` stands for ``priority``, and a tier the Responses API does not define
  is dropped rather than sent upstream to be refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, get_args

import msgspec

from protocol._generated.types import ApprovalsReviewer, AskForApproval, ReasoningSummary, SandboxMode

from ..config import Settings
from ..errors import InvalidRequest
from ..providers import OPENAI_PROVIDER_ID
from .meta import sandbox_policy_for

__all__ = ["check_provider", "checked", "merged_config", "normalize_service_tier", "settings_changes"]

_SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority"})  # what the Responses API accepts
_TIER_ALIASES = {"fast": "priority"}


def merged_config(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``overrides`` (dotted paths) laid over it; nested tables merge key by key."""
    out: dict[str, Any] = dict(base)
    for path, value in (overrides or {}).items():
        *parents, last = str(path).split(".")
        node = out
        for part in parents:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, Mapping) else {}
            node = child
        node[last] = value
    return out


def normalize_service_tier(tier: str | None) -> str | None:
    """What to send for a requested tier: Codex's alias resolved, a tier the API does not define dropped."""
    if tier is None:
        return None
    tier = _TIER_ALIASES.get(tier, tier)
    return tier if tier in _SERVICE_TIERS else None


def _fail(key: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"failed to load configuration: `{key}` {problem}")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(key, f"must be a string, not {type(value).__name__} {value!r}")
    if not value.strip():
        raise _fail(key, "must not be empty")
    return value


def _choice(choices: Any) -> Callable[[str, Any], str]:
    allowed = tuple(arg for arg in get_args(choices) if isinstance(arg, str)) or get_args(choices)

    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise _fail(key, f"must be one of {', '.join(allowed)}, not {value!r}")
        return str(value)

    return check


def _approval(key: str, value: Any) -> Any:
    if value == "on-failure":  # a legacy preset Codex still reads, as on-request
        return "on-request"
    try:
        return msgspec.convert(value, AskForApproval)
    except msgspec.ValidationError as exc:
        raise _fail(key, f"is not an approval policy: {exc}") from None


# config key → (ThreadSettings field, how its value is checked and converted)
_KEYS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "model": ("model", _text),
    "model_provider": ("model_provider", _text),
    "model_reasoning_effort": ("reasoning_effort", _text),
    "model_reasoning_summary": ("reasoning_summary", _choice(ReasoningSummary)),
    "service_tier": ("service_tier", lambda key, value: normalize_service_tier(_text(key, value))),
    "approval_policy": ("approval_policy", _approval),
    "approvals_reviewer": ("approvals_reviewer", _choice(ApprovalsReviewer)),
    "sandbox_mode": ("sandbox", lambda key, value: sandbox_policy_for(_choice(SandboxMode)(key, value))),  # type: ignore[arg-type]
    "developer_instructions": ("developer_instructions", _text),
}


def settings_changes(config: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The ``ThreadSettings`` fields ``config`` sets (keys it leaves out, or sets to null, set nothing)."""
    changes: dict[str, Any] = {}
    for key, (field, convert) in _KEYS.items():
        value = config.get(key)
        if value is not None:
            changes[field] = convert(key, value)
    provider = changes.get("model_provider")
    if provider is not None:
        check_provider(provider, settings)
    return changes


def checked(changes: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``changes`` (``ThreadSettings`` fields from a request's explicit fields), checked and normalized."""
    if "model" in changes and not changes["model"].strip():
        raise InvalidRequest("model must not be empty: name one, or leave it out for the configured model")
    if "model_provider" in changes:
        check_provider(changes["model_provider"], settings)
    if "service_tier" in changes:
        changes["service_tier"] = normalize_service_tier(changes["service_tier"])
    if "cwd" in changes:
        changes["cwd"] = os.path.abspath(changes["cwd"])  # as Codex: relative to the daemon's own directory
    return changes


def check_provider(provider: str, settings: Settings) -> None:
    """A thread may only name a provider the daemon knows (the built-in one, or a ``model_providers`` table)."""
    tables = settings.get("model_providers")
    known = {OPENAI_PROVIDER_ID, *(tables if isinstance(tables, Mapping) else ())}
    if provider not in known:
        raise InvalidRequest(f"failed to load configuration: model provider `{provider}` is not configured; "
                             f"known providers: {', '.join(sorted(known))}")
