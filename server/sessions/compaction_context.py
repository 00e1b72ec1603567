"""What one compaction decision needs about a turn: its model's limits, its provider's paths, the estimate.

Contract: `gather` reads the thread's settings, the model catalog, the feature flags and what the daemon
learned about the provider (`ProviderState`), every call afresh, so a fallback remembered a moment ago (a
rejected `context_management`, a missing `/responses/compact`) is seen by the very next decision. Nothing
here does I/O or changes state. The estimate follows `server.compaction.estimate`: the last
`response.completed` total plus bytes÷4 of what was added since; right after a checkpoint there is no such
anchor (`last_response_tokens` is 0) and the whole history is estimated instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from protocol._generated.types import CompactionMode

from ..compaction import (
    DEFAULT_TURN_COMPACTION_CAP,
    CompactionBudget,
    CompactionPath,
    PathInputs,
    context_estimate,
    estimate_history,
    items_after_last_model_item,
)
from ..compaction.items import is_model_generated
from ..features import REMOTE_COMPACTION, SERVER_SIDE_COMPACTION
from ..models import ModelInfo
from ..upstream.provider import ProviderInfo
from .services import ProviderState, TurnServices

if TYPE_CHECKING:
    from .actor import ThreadSession
    from .turn import ActiveTurn

__all__ = [
    "CompactionContext",
    "Trigger",
    "context_size",
    "gather",
    "is_first_request",
    "mode_of",
    "path_inputs",
    "turn_cap",
]

Trigger = Literal["auto", "manual"]


@dataclass(frozen=True, kw_only=True)
class CompactionContext:
    """The facts behind one decision. `model` is the model the compaction (or the request) would use."""

    model: ModelInfo
    provider: ProviderInfo
    state: ProviderState
    inputs: PathInputs
    cap: int

    @property
    def limit(self) -> int | None:
        return self.model.effective_auto_compact_limit

    @property
    def window(self) -> int | None:
        return self.model.context_window

    @property
    def inline(self) -> bool:
        """Whether requests carry `context_management`: the flag, the provider, and a known threshold."""
        return self.inputs.inline_available and self.limit is not None

    def budget(self, used: int) -> CompactionBudget:
        return CompactionBudget(cap=self.cap, used=used)


def path_inputs(services: TurnServices, provider: ProviderInfo) -> PathInputs:
    """The path-choice inputs for `provider`: feature flags, its declared capabilities, what it refused."""
    state = services.provider_state(provider.id)
    return PathInputs(
        server_side_compaction=services.features.enabled(SERVER_SIDE_COMPACTION),
        remote_compaction=services.features.enabled(REMOTE_COMPACTION),
        wire_api=provider.wire_api,
        remote_capability=provider.remote_compaction,
        inline_opt_out=not provider.inline_compaction,
        inline_rejected=state.inline_rejected,
        compact_endpoint_missing=state.compact_endpoint_missing,
        trigger_rejected=state.trigger_rejected,
    )


def turn_cap(settings: Mapping[str, Any] | Any) -> int:
    """`max_compactions_per_turn` from config (a positive integer), else the default of 3."""
    value = settings.get("max_compactions_per_turn")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return DEFAULT_TURN_COMPACTION_CAP


def gather(turn: ActiveTurn, services: TurnServices, *, model: str | None = None) -> CompactionContext:
    """The context for `turn` (with `model` instead of the thread's model when given)."""
    settings = turn.session.meta.settings
    provider = services.provider(settings.model_provider)
    return CompactionContext(
        model=services.model(model or settings.model),
        provider=provider,
        state=services.provider_state(provider.id),
        inputs=path_inputs(services, provider),
        cap=turn_cap(services.settings),
    )


def context_size(session: ThreadSession) -> int:
    """The estimated size of the thread's context right now (see the module docstring)."""
    history = session.history or []
    anchor = session.meta.last_response_tokens
    if anchor > 0:
        return context_estimate(anchor, items_after_last_model_item(history))
    return estimate_history(history)


def is_first_request(history: Sequence[Mapping[str, Any]], turn_start_index: int) -> bool:
    """Whether the turn has not sampled yet: nothing the model produced lies in its part of the history."""
    return not any(is_model_generated(item) for item in history[turn_start_index:])


def mode_of(path: CompactionPath) -> CompactionMode:
    """The wire's compaction mode for a path (both remote flavours are `remote`)."""
    if path == "inline":
        return "inline"
    return "local" if path == "local" else "remote"
