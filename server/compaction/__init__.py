"""Compaction of long threads: when to compact, which way, and how the history is rewritten. Pure, no I/O.

Paths (chosen by `choose_path`):
- inline: with the `server_side_compaction` feature on a Responses provider that accepts it, every eligible
  request carries `context_management` (`context_management_param`) and the API compacts inside the stream;
  we apply the streamed `compaction` item as a checkpoint (`InlineCheckpointBuffer`, `apply_inline_checkpoint`).
- remote: the provider compacts on request — v2 streams one `compaction` item for a request ending in
  `compaction_trigger`, v1 is `POST /responses/compact`; `process_remote_output` builds the new history.
- local: a summarization request with `COMPACT_PROMPT`, then `build_local_replacement`; used for every other
  provider and as the fallback.

Invariants the callers rely on:
- A checkpoint is applied only at `response.completed`; a failed or retried stream commits nothing.
- The running turn's inputs (its user, steered and injected messages, its tool outputs with their calls)
  survive an inline checkpoint, before the compaction item.
- One checkpoint per turn: a second inline checkpoint replaces the first; no two compaction items stack.
- Leading compaction items are stripped on turns that started from an empty history.
- No Codex-private item type (such as `context_compaction`) is ever part of a rewritten history, so none is
  sent to the API; the legacy `compaction_summary` spelling becomes `compaction`.
- A turn compacts at most `CompactionBudget.cap` times; then it fails with `contextWindowExceeded`.
"""

from server.compaction.estimate import (
    auto_compact_limit,
    context_estimate,
    estimate_history,
    estimate_item_tokens,
    items_after_last_model_item,
)
from server.compaction.history import (
    DEFAULT_USER_BUDGET_TOKENS,
    CheckpointStats,
    InlineCheckpointBuffer,
    InvalidCompactionOutput,
    Item,
    apply_inline_checkpoint,
    build_local_replacement,
    current_turn_inputs,
    ensure_call_output_pairs,
    insert_initial_context,
    is_real_user_message,
    process_remote_output,
    recent_user_messages,
    strip_leading_compaction_items,
    trim_for_summary_request,
)
from server.compaction.pairs import mend_gaps
from server.compaction.policy import (
    DEFAULT_TURN_COMPACTION_CAP,
    CompactionBudget,
    CompactionPath,
    PathInputs,
    RemoteCapability,
    choose_path,
    context_management_param,
    is_over_window,
    needs_mid_turn_compaction,
    needs_pre_turn_compaction,
    needs_previous_model_compaction,
)
from server.compaction.prompts import COMPACT_PROMPT, SUMMARY_BRIDGE_PREFIX, summary_message_text

__all__ = [
    "COMPACT_PROMPT",
    "DEFAULT_TURN_COMPACTION_CAP",
    "DEFAULT_USER_BUDGET_TOKENS",
    "SUMMARY_BRIDGE_PREFIX",
    "CheckpointStats",
    "CompactionBudget",
    "CompactionPath",
    "InlineCheckpointBuffer",
    "InvalidCompactionOutput",
    "Item",
    "PathInputs",
    "RemoteCapability",
    "apply_inline_checkpoint",
    "auto_compact_limit",
    "build_local_replacement",
    "choose_path",
    "context_estimate",
    "context_management_param",
    "current_turn_inputs",
    "ensure_call_output_pairs",
    "estimate_history",
    "estimate_item_tokens",
    "insert_initial_context",
    "is_over_window",
    "is_real_user_message",
    "mend_gaps",
    "items_after_last_model_item",
    "needs_mid_turn_compaction",
    "needs_pre_turn_compaction",
    "needs_previous_model_compaction",
    "process_remote_output",
    "recent_user_messages",
    "strip_leading_compaction_items",
    "summary_message_text",
    "trim_for_summary_request",
]
