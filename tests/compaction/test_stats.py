"""Checkpoint figures computed from the history before and after a rewrite."""

from __future__ import annotations

from server.compaction.estimate import estimate_history
from server.compaction.history import CheckpointStats

from .factories import assistant, compaction, user


def test_stats_count_tokens_and_items_before_and_after() -> None:
    before = [user("a"), assistant("long " * 100), user("b")]
    after = [user("a"), user("b"), compaction()]
    stats = CheckpointStats.compute(before, after)
    assert stats.tokens_before == estimate_history(before)
    assert stats.tokens_after == estimate_history(after)
    assert (stats.items_before, stats.items_after) == (3, 3)
    assert (stats.items_kept, stats.items_replaced) == (2, 1)
    assert stats.tokens_saved == stats.tokens_before - stats.tokens_after


def test_an_item_is_kept_regardless_of_key_order_but_at_most_as_often_as_it_occurred() -> None:
    reordered = {"content": [{"text": "a", "type": "input_text"}], "role": "user", "type": "message"}
    stats = CheckpointStats.compute([user("a")], [reordered, user("a")])
    assert stats.items_kept == 1 and stats.items_replaced == 0


def test_an_empty_rewrite_replaces_everything() -> None:
    stats = CheckpointStats.compute([user("a"), user("b")], [])
    assert (stats.items_kept, stats.items_replaced, stats.tokens_after) == (0, 2, 0)
