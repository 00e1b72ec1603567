"""What Threadline persists about a thread beyond the store's indexed columns (the record's ``data`` blob).

``ThreadMeta`` holds identity and provenance; ``ThreadSettings`` the sticky per-thread settings that
``thread/start``/``resume``/``fork`` and ``turn/start`` overrides change. Both are msgspec Structs typed with
the generated protocol types, so the blob decodes back to exactly what the wire carried. Secrets are never
part of either: credentials are resolved per request from the environment.
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["ThreadMeta", "ThreadSettings", "decode_meta", "encode_meta", "sandbox_policy_for"]


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


_decoder = msgspec.json.Decoder(ThreadMeta)


def encode_meta(meta: ThreadMeta) -> bytes:
    return msgspec.json.encode(meta)


def decode_meta(data: bytes) -> ThreadMeta:
    return _decoder.decode(data)


def sandbox_policy_for(mode: SandboxMode) -> SandboxPolicy:
    """The policy a ``thread/*`` sandbox *mode* stands for."""
    if mode == "danger-full-access":
        return DangerFullAccessSandboxPolicy()
    if mode == "workspace-write":
        return WorkspaceWriteSandboxPolicy()
    return ReadOnlySandboxPolicy()
