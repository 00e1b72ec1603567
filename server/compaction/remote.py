"""Turning what a remote compaction returned into replacement history, or refusing it.

Contract: `/responses/compact` (v1) returns the thread's user messages followed by a compaction item; a v2
request ending in `compaction_trigger` streams exactly one compaction item, to which we add the request's
latest real user messages. `process_remote_output` keeps only what belongs in the new history — real user
messages, assistant messages and the compaction item — and raises `InvalidCompactionOutput` for anything it
cannot trust, so the caller keeps the old history intact rather than installing a corrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from server.compaction.items import Item, canonical_item, is_compaction, is_real_user_message, role
from server.compaction.local import DEFAULT_USER_BUDGET_TOKENS, recent_user_messages

__all__ = ["InvalidCompactionOutput", "process_remote_output"]


class InvalidCompactionOutput(ValueError):
    """A remote compaction answered with output that cannot become history; the old history stays."""


def _check_compaction(item: Mapping[str, Any]) -> None:
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content:
        raise InvalidCompactionOutput("compaction item has no encrypted_content")


def process_remote_output(
    output: Sequence[Any],
    *,
    version: Literal["v1", "v2"] = "v1",
    request_input: Sequence[Mapping[str, Any]] = (),
    user_budget_tokens: int = DEFAULT_USER_BUDGET_TOKENS,
) -> list[Item]:
    """The replacement history built from a remote compaction's output items.

    v1 (`/responses/compact`): `output` is the endpoint's `output` list. Kept, in order: real user messages
    (`is_real_user_message`), assistant messages and compaction items. Dropped: developer and system messages
    (the next turn injects fresh ones), injected user context, reasoning and tool items.

    v2 (`compaction_trigger`): `output` is every output item of the stream, and must hold exactly one
    compaction item; the result is `recent_user_messages(request_input, budget_tokens=user_budget_tokens)`
    (the request's input history, without the trigger) followed by that item — the same shape as v1.

    Either way the legacy `compaction_summary` spelling is renamed to `compaction`, and the transient
    `context_compaction`/`compaction_trigger` types are dropped: they must never be sent back to the API.

    Raises:
        InvalidCompactionOutput: v2 output without exactly one compaction item, v1 output without any, or
            a compaction item with no `encrypted_content`.
    """
    # Wire data is untyped: skip anything that is not an item object rather than crash the rebuild.
    items = [
        clean
        for raw in output
        if isinstance(raw, Mapping) and (clean := canonical_item(cast(Mapping[str, Any], raw))) is not None
    ]
    compactions = [item for item in items if is_compaction(item)]
    for item in compactions:
        _check_compaction(item)
    if version == "v2":
        if len(compactions) != 1:
            raise InvalidCompactionOutput(
                f"remote compaction v2 must return exactly one compaction item, got {len(compactions)}"
            )
        return [*recent_user_messages(request_input, budget_tokens=user_budget_tokens), compactions[0]]
    if not compactions:
        raise InvalidCompactionOutput("remote compaction returned no compaction item")
    return [item for item in items if is_compaction(item) or role(item) == "assistant" or is_real_user_message(item)]
