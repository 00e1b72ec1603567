"""What Threadline persists about a thread beyond the store's indexed columns (the record's ``data`` blob).

``ThreadMeta`` holds identity and provenance; ``ThreadSettings`` the sticky per-thread settings that
``thread/start``/``resume``/``fork`` and ``turn/start`` overrides change. Both are msgspec Structs typed with
the generated protocol types, so the blob decodes back to exactly what the wire carried. Secrets are never
part of either: credentials are resolved per request from the environment.

A blob that does not decode (see ``server.sessions.damage``) is replaced by ``fallback_meta``: the thread keeps
what the store's columns hold (id, cwd, provider, source) and takes the daemon's defaults for the rest, so it can
still be listed, read, resumed, archived and deleted. Its next turn stores the replacement over the damage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import msgspec

from protocol._generated.types import (
    ApprovalsReviewer,
    AskForApproval,
    DangerFullAccessSandboxPolicy,
    DynamicToolSpec,
    ModeKind,
    Personality,
    ReadOnlySandboxPolicy,
    ReasoningSummary,
    SandboxMode,
    SandboxPolicy,
    SessionSource,
    ThreadTokenUsage,
    WorkspaceWriteSandboxPolicy,
)

if TYPE_CHECKING:
    from ..store.base import ThreadRecord

__all__ = ["ThreadMeta", "ThreadSettings", "decode_meta", "encode_meta", "fallback_meta", "meta_decoder",
           "sandbox_policy_for"]


class ThreadSettings(msgspec.Struct, kw_only=True):
    model: str
    model_provider: str
    cwd: str
    approval_policy: AskForApproval = "on-request"
    approvals_reviewer: ApprovalsReviewer = "user"
    sandbox: SandboxPolicy = msgspec.field(default_factory=ReadOnlySandboxPolicy)
    service_tier: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: ReasoningSummary | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    personality: Personality | None = None
    collaboration_mode: ModeKind = "default"
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    dynamic_tools: list[DynamicToolSpec] = msgspec.field(default_factory=list)
    experimental_raw_events: bool = False


class ThreadMeta(msgspec.Struct, kw_only=True):
    session_id: str
    cli_version: str
    originator: str | None = None
    source: SessionSource = "vscode"
    thread_source: str | None = None
    history_mode: str = "paginated"
    settings: ThreadSettings
    token_usage: ThreadTokenUsage | None = None
    last_response_tokens: int = 0
    """``total_tokens`` of the last ``response.completed``: the base of the context estimate."""
    previous_model: str | None = None
    """The model of the last turn that sampled, to detect a switch to a smaller window."""


meta_decoder = msgspec.json.Decoder(ThreadMeta)
_PLAIN_SOURCES = frozenset(name for arm in get_args(SessionSource) for name in get_args(arm))


def encode_meta(meta: ThreadMeta) -> bytes:
    return msgspec.json.encode(meta)


def decode_meta(data: bytes) -> ThreadMeta:
    return meta_decoder.decode(data)


def fallback_meta(record: ThreadRecord, defaults: ThreadSettings, cli_version: str) -> ThreadMeta:
    """The metadata of a thread whose blob cannot be read: ``defaults`` (the settings a new thread would get)
    on the record's own cwd and provider, which are columns and survive. Lost with the blob: the thread's
    model and other settings, its dynamic tools, its token usage (so the next context estimate counts the whole
    history, as after a compaction) and its originator. ``cli_version`` is the daemon's, which now owns it."""
    settings = msgspec.structs.replace(defaults, cwd=record.cwd, model_provider=record.model_provider)
    source: SessionSource = record.source_kind if record.source_kind in _PLAIN_SOURCES else "vscode"  # type: ignore[assignment]
    return ThreadMeta(session_id=record.id, cli_version=cli_version, source=source, settings=settings)


def sandbox_policy_for(mode: SandboxMode) -> SandboxPolicy:
    """The policy a ``thread/*`` sandbox *mode* stands for."""
    if mode == "danger-full-access":
        return DangerFullAccessSandboxPolicy()
    if mode == "workspace-write":
        return WorkspaceWriteSandboxPolicy()
    return ReadOnlySandboxPolicy()
