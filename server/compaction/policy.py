"""When to compact and which way: pure decisions over numbers and flags, no I/O.

Paths: `inline` (the Responses API compacts inside a normal request that carries `context_management`),
`remote_v2` (a streamed `/responses` request ending in a `compaction_trigger` item), `remote_v1` (the unary
`POST /responses/compact`) and `local` (a summarization request with our prompt). Inline is only for
automatic compaction the server can still do: a manual compaction, or a context already over the full window,
needs an explicit request. `CompactionBudget` caps compactions per turn so a turn that cannot get under its
limit fails with `contextWindowExceeded` instead of compacting forever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "DEFAULT_TURN_COMPACTION_CAP",
    "MIN_COMPACT_THRESHOLD",
    "CompactionBudget",
    "CompactionPath",
    "PathInputs",
    "RemoteCapability",
    "choose_path",
    "context_management_param",
    "is_over_window",
    "needs_mid_turn_compaction",
    "needs_pre_turn_compaction",
    "needs_previous_model_compaction",
]

CompactionPath = Literal["inline", "remote_v1", "remote_v2", "local"]
RemoteCapability = Literal["v1", "v2", "off"]

# The API rejects a smaller `compact_threshold`.
MIN_COMPACT_THRESHOLD = 1_000
DEFAULT_TURN_COMPACTION_CAP = 3


@dataclass(frozen=True, kw_only=True)
class PathInputs:
    """What decides the path, gathered once per turn by the caller.

    `inline_opt_out` is the provider's own "no context_management" setting; `inline_rejected`,
    `compact_endpoint_missing` (a 404 from `/responses/compact`) and `trigger_rejected` (the provider refused
    a `compaction_trigger` item) are what the session remembers from earlier failures with this provider.
    """

    server_side_compaction: bool
    remote_compaction: bool
    wire_api: str
    remote_capability: RemoteCapability = "off"
    inline_opt_out: bool = False
    inline_rejected: bool = False
    compact_endpoint_missing: bool = False
    trigger_rejected: bool = False

    @property
    def responses_api(self) -> bool:
        return self.wire_api == "responses"

    @property
    def inline_available(self) -> bool:
        """Whether eligible requests carry `context_management`, so the server compacts inline."""
        return (
            self.server_side_compaction and self.responses_api and not self.inline_opt_out and not self.inline_rejected
        )


def choose_path(inputs: PathInputs, *, manual: bool, over_window: bool = False) -> CompactionPath:
    """The path for one compaction.

    `manual` is `thread/compact/start`; `over_window` says the context no longer fits the window at all (see
    `is_over_window`, or an upstream `context_length_exceeded`). Neither can be inline: the server only
    compacts a request it accepted, and a manual compaction must happen now. Otherwise the order of preference
    is inline, remote v2, remote v1, local; each remote path needs the `remote_compaction` feature, a
    Responses provider that offers it, and no remembered refusal. Local always works, so it is the fallback.
    """
    if inputs.inline_available and not manual and not over_window:
        return "inline"
    if inputs.remote_compaction and inputs.responses_api:
        if inputs.remote_capability == "v2" and not inputs.trigger_rejected:
            return "remote_v2"
        # A v2 provider is assumed to keep the v1 endpoint unless it answered 404.
        if inputs.remote_capability in ("v1", "v2") and not inputs.compact_endpoint_missing:
            return "remote_v1"
    return "local"


def is_over_window(estimate: int, context_window: int | None) -> bool:
    """Whether the context has reached the model's full window (unknown window: never)."""
    return context_window is not None and context_window > 0 and estimate >= context_window


def _crossed(estimate: int, limit: int | None, inline_available: bool, context_window: int | None) -> bool:
    if inline_available:
        # The server compacts at the limit by itself; we step in only once a request cannot even be accepted.
        return is_over_window(estimate, context_window)
    return (limit is not None and estimate >= limit) or is_over_window(estimate, context_window)


def needs_pre_turn_compaction(
    estimate: int, limit: int | None, inline_available: bool, *, context_window: int | None = None
) -> bool:
    """Whether to compact before the first request of a turn.

    Without inline: when the estimate reaches the auto-compact limit (or the window). With inline: only when
    the estimate reaches the full window; then call `choose_path(..., over_window=True)`.
    """
    return _crossed(estimate, limit, inline_available, context_window)


def needs_previous_model_compaction(
    prev_model_window: int | None,
    new_model_window: int | None,
    estimate: int,
    new_limit: int | None,
    inline_available: bool,
) -> bool:
    """Whether to compact with the previous model before a turn that switched to a smaller window.

    Pass `prev_model_window` only when the model changed. True when the old window is larger than the new
    one and the estimate is over the new model's limit, so the history is condensed by the model that could
    still read all of it. Skipped whenever inline compaction is available: auto-compaction then has a single
    path, and an over-window context is caught by `needs_pre_turn_compaction` instead.
    """
    if inline_available or prev_model_window is None or new_model_window is None or new_limit is None:
        return False
    return prev_model_window > new_model_window and estimate > new_limit


def needs_mid_turn_compaction(
    estimate: int,
    limit: int | None,
    *,
    needs_follow_up: bool,
    inline_available: bool,
    context_window: int | None = None,
) -> bool:
    """Whether to compact between two requests of one turn.

    Only when another request will follow (tool outputs to return, steered input queued): a turn that just
    gave its final answer waits for the next turn's pre-turn check. The thresholds are those of
    `needs_pre_turn_compaction`.
    """
    return needs_follow_up and _crossed(estimate, limit, inline_available, context_window)


@dataclass(frozen=True)
class CompactionBudget:
    """How many compactions a turn may still run. Immutable: `spend` returns the next budget.

    Every applied checkpoint counts, inline ones included: a turn that compacts `cap` times and is still over
    its limit is refilling the window as fast as it is emptied, and must fail rather than loop.
    """

    cap: int = DEFAULT_TURN_COMPACTION_CAP
    used: int = 0

    @property
    def exhausted(self) -> bool:
        return self.used >= self.cap

    def spend(self) -> CompactionBudget:
        """The budget after one more compaction."""
        return replace(self, used=self.used + 1)

    def must_fail(self, needs_compaction: bool) -> bool:
        """Whether the turn must end with `contextWindowExceeded`: a compaction is needed and none is left."""
        return needs_compaction and self.exhausted


def context_management_param(limit: int) -> list[dict[str, Any]]:
    """The `context_management` request field for inline compaction at `limit` tokens (at least 1,000)."""
    return [{"type": "compaction", "compact_threshold": max(limit, MIN_COMPACT_THRESHOLD)}]
