"""The built-in model catalog and what the rest of the daemon needs to know about one model.

Contract: `CATALOG` is Threadline's own list (slugs a Responses API accepts; descriptions are ours). `model_info`
answers for any slug: catalog facts, then `model_context_window` / `model_auto_compact_token_limit` from config
on top — they describe the model the caller is about to use, as in Codex. A slug outside the catalog (a custom
provider's model) knows only what config says; its window is None otherwise. `list_models` renders the
`model/list` page with Codex's cursor (a stringified offset) and raises ValueError for a cursor it never issued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocol._generated.types import InputModality, Model, ReasoningEffortOption

from .compaction.estimate import auto_compact_limit
from .config import ConfigError, Settings

__all__ = ["CATALOG", "DEFAULT_MODEL", "CatalogEntry", "ModelInfo", "list_models", "model_info"]

DEFAULT_MODEL = "gpt-5.1-codex"
EFFECTIVE_WINDOW_PERCENT = 95  # Codex's default effective_context_window_percent

_EFFORTS: Mapping[str, str] = {
    "minimal": "Answers almost at once; for lookups and one-line edits",
    "low": "Quick answers with a short think first",
    "medium": "The everyday balance of speed and care",
    "high": "Thinks longer before acting; for tricky changes",
    "xhigh": "The most deliberate setting, for hard multi-step problems",
}


def _efforts(*names: str) -> tuple[ReasoningEffortOption, ...]:
    return tuple(ReasoningEffortOption(reasoning_effort=name, description=_EFFORTS[name]) for name in names)


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One model the daemon knows. `auto_compact_token_limit` None means "90% of the window" downstream."""

    slug: str
    display_name: str
    description: str
    context_window: int
    default_reasoning_effort: str
    supported_reasoning_efforts: tuple[ReasoningEffortOption, ...]
    auto_compact_token_limit: int | None = None
    input_modalities: tuple[InputModality, ...] = ("text", "image")
    hidden: bool = False
    upgrade: str | None = None


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        slug=DEFAULT_MODEL, display_name="GPT-5.1 Codex",
        description="Tuned for agentic coding: reads a repository, edits files and runs commands.",
        context_window=272_000, default_reasoning_effort="medium",
        supported_reasoning_efforts=_efforts("low", "medium", "high", "xhigh"),
    ),
    CatalogEntry(
        slug="gpt-5.1-codex-max", display_name="GPT-5.1 Codex Max",
        description="The coding model for long sessions that run through many compactions.",
        context_window=272_000, default_reasoning_effort="medium",
        supported_reasoning_efforts=_efforts("low", "medium", "high", "xhigh"),
    ),
    CatalogEntry(
        slug="gpt-5.1-codex-mini", display_name="GPT-5.1 Codex Mini",
        description="A smaller, cheaper coding model for routine edits.",
        context_window=272_000, default_reasoning_effort="medium",
        supported_reasoning_efforts=_efforts("medium", "high"),
    ),
    CatalogEntry(
        slug="gpt-5.1", display_name="GPT-5.1",
        description="General-purpose model for writing, analysis and code review.",
        context_window=272_000, default_reasoning_effort="medium",
        supported_reasoning_efforts=_efforts("low", "medium", "high"),
    ),
    CatalogEntry(
        slug="gpt-5-codex", display_name="GPT-5 Codex",
        description="The previous coding model; kept for threads that already use it.",
        context_window=272_000, default_reasoning_effort="medium",
        supported_reasoning_efforts=_efforts("low", "medium", "high"),
        hidden=True, upgrade=DEFAULT_MODEL,
    ),
)
_BY_SLUG = {entry.slug: entry for entry in CATALOG}


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What a turn needs about its model, config overrides applied."""

    slug: str
    known: bool
    """Whether the slug is in the catalog (else every figure came from config or is None)."""
    context_window: int | None
    auto_compact_token_limit: int | None
    """The configured limit (config, else catalog), before it is capped at 90% of the window."""
    default_reasoning_effort: str | None
    supported_reasoning_efforts: tuple[ReasoningEffortOption, ...]
    input_modalities: tuple[InputModality, ...]

    @property
    def effective_context_window(self) -> int | None:
        """The window clients are told (``modelContextWindow``): 95% of it, as Codex reports for its models,
        leaving room for what the server adds around the input."""
        return None if self.context_window is None else self.context_window * EFFECTIVE_WINDOW_PERCENT // 100

    @property
    def effective_auto_compact_limit(self) -> int | None:
        """The token count that triggers auto-compaction (Codex's min(configured, 90% of window) rule)."""
        return auto_compact_limit(self.context_window, self.auto_compact_token_limit)


def _config_int(settings: Settings, key: str) -> int | None:
    value = settings.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer number of tokens, got {value!r}")
    # Codex ignores a non-positive value rather than failing; 0 is how people "unset" it with -c.
    return value if value > 0 else None


def model_info(settings: Settings, slug: str | None = None) -> ModelInfo:
    """Facts about `slug` (default: the configured `model`, else `DEFAULT_MODEL`); ConfigError on bad config."""
    slug = slug or settings.get("model") or DEFAULT_MODEL
    entry = _BY_SLUG.get(slug)
    window = _config_int(settings, "model_context_window")
    limit = _config_int(settings, "model_auto_compact_token_limit")
    if entry is None:
        return ModelInfo(slug=slug, known=False, context_window=window, auto_compact_token_limit=limit,
                         default_reasoning_effort=None, supported_reasoning_efforts=(),
                         input_modalities=("text", "image"))
    return ModelInfo(
        slug=slug, known=True,
        context_window=window if window is not None else entry.context_window,
        auto_compact_token_limit=limit if limit is not None else entry.auto_compact_token_limit,
        default_reasoning_effort=entry.default_reasoning_effort,
        supported_reasoning_efforts=entry.supported_reasoning_efforts,
        input_modalities=entry.input_modalities,
    )


def _default_slug(settings: Settings) -> str:
    # The configured model is the one used when a client names none, so it is the one flagged isDefault.
    configured = settings.get("model")
    return configured if isinstance(configured, str) and configured in _BY_SLUG else DEFAULT_MODEL


def _row(entry: CatalogEntry, default_slug: str) -> Model:
    return Model(
        id=entry.slug, model=entry.slug, display_name=entry.display_name, description=entry.description,
        hidden=entry.hidden, is_default=entry.slug == default_slug,
        supported_reasoning_efforts=list(entry.supported_reasoning_efforts),
        default_reasoning_effort=entry.default_reasoning_effort, input_modalities=list(entry.input_modalities),
        # The wire wants every key present; service tiers and upgrade notices are OpenAI account features.
        supports_personality=False, service_tiers=[], default_service_tier=None, additional_speed_tiers=[],
        upgrade=entry.upgrade, upgrade_info=None, availability_nux=None, model_specialty=None,
        multi_agent_version=None, available_access_programs=None,
    )


def list_models(
    settings: Settings, cursor: str | None = None, limit: int | None = None, include_hidden: bool = False
) -> tuple[list[Model], str | None]:
    """One `model/list` page and the next cursor (None on the last page).

    `cursor` is an offset previously returned; `limit` None means "the rest", and 0 is read as 1 (as Codex
    does) so paging always advances. Raises ValueError for a malformed cursor or one past the end.
    """
    entries = [entry for entry in CATALOG if include_hidden or not entry.hidden]
    start = 0
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()):
            raise ValueError(f"invalid cursor: {cursor}")
        start = int(cursor)
        if start > len(entries):
            raise ValueError(f"cursor {start} exceeds total models {len(entries)}")
    size = len(entries) - start if limit is None else max(limit, 1)
    end = min(len(entries), start + size)
    default_slug = _default_slug(settings)
    rows = [_row(entry, default_slug) for entry in entries[start:end]]
    return rows, (str(end) if end < len(entries) else None)
