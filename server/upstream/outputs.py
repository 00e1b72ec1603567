"""A response's output items, reconciled: what `response.output_item.done` events delivered against the list
`response.completed` ends with. Pure functions, no I/O.

Contract: `response.completed`'s `output` lists every output item of the response, in order (a list index is the
item's `output_index`). An `output_item.done` can still be lost on the way — undecodable, or decoded only once its
text was repaired (`StreamEvent.repaired`), which may have damaged an enum or an id — and the turn must then
neither drop the item (a message the model would never see again, a tool call never run) nor keep a damaged copy.
`reconcile` says what to add to the items already taken: each repaired item, as its intact copy from the list
when the list itself arrived intact (else as repaired: the best copy there is), then every listed item nothing
stands for, each with its output index. Two copies are the same item when they have the same `type` and the
same `id`, the same `call_id`, or the same output index: an id is not enough to tell items apart, since a
repair may have damaged it and some compatible servers (mistral.rs, smg) name an item afresh in
`response.completed`, but the item's place in the response stays. An absent list (`None`: some OpenAI-compatible
servers leave it out) or an empty one adds nothing but the repaired items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["OutputAt", "in_output_order", "reconcile", "same_item"]

OutputAt = tuple[int, dict[str, Any]]
"""An output item with its `output_index`."""


def same_item(a: OutputAt, b: OutputAt) -> bool:
    """Whether two copies stand for the same output item."""
    (a_index, a_item), (b_index, b_item) = a, b
    if a_item.get("type") != b_item.get("type"):
        return False
    if a_index == b_index:
        return True
    return any(a_item.get(name) and a_item.get(name) == b_item.get(name) for name in ("id", "call_id"))


def reconcile(taken: Sequence[OutputAt], repaired: Sequence[OutputAt], listed: Sequence[dict[str, Any]] | None,
              *, listed_intact: bool) -> list[OutputAt]:
    """What to add to `taken` (items from intact `output_item.done` events) once `response.completed` listed
    `listed`: the `repaired` items (their intact listed copy preferred), then the listed items missing, in order."""
    listing = list(enumerate(listed or []))
    added: list[OutputAt] = []
    for index, item in repaired:
        intact = next((copy for copy in listing if same_item(copy, (index, item))), None) if listed_intact else None
        added.append((index, intact[1]) if intact is not None else (index, item))
    known = [*taken, *added]
    added += [copy for copy in listing if not any(same_item(copy, other) for other in known)]
    return added


def in_output_order(items: Sequence[OutputAt]) -> list[dict[str, Any]]:
    """The items ordered by output index; items with equal indexes keep the order they came in."""
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]
