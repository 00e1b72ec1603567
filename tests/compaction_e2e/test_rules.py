"""The pure rules the compaction hooks add on top of `server.compaction`, on plain item lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.sessions.compaction_apply import inline_replacement
from server.sessions.compaction_context import is_first_request, mode_of, turn_cap
from tests.compaction.factories import assistant, call, output, user

Item = dict[str, Any]


def compaction(tag: str = "c") -> Item:
    return {"type": "compaction", "id": f"cmp_{tag}", "encrypted_content": f"opaque-{tag}"}


def test_an_inline_checkpoint_keeps_the_turn_inputs_then_the_compaction_then_what_followed() -> None:
    history = [user("old"), assistant("old answer"), user("new")]
    outputs = [compaction("1"), assistant("fresh answer")]
    assert inline_replacement(history, 2, outputs) == [user("new"), compaction("1"), assistant("fresh answer")]


def test_a_turn_from_an_empty_history_never_nests_an_earlier_checkpoint_before_the_new_one() -> None:
    # After a first checkpoint the whole history is the turn's (start index 0); the second replaces it.
    history = [user("ask"), compaction("1"), call("c1"), output("c1", "big")]
    replaced = inline_replacement(history, 0, [compaction("2"), assistant("done")])
    assert replaced == [user("ask"), call("c1"), output("c1", "big"), compaction("2"), assistant("done")]
    assert [item for item in replaced if item["type"] == "compaction"] == [compaction("2")]


def test_a_checkpoint_with_no_turn_inputs_keeps_its_compaction_item() -> None:
    assert inline_replacement([], 0, [compaction("1"), assistant("a")]) == [compaction("1"), assistant("a")]


def test_a_turn_has_not_sampled_while_only_inputs_follow_its_start() -> None:
    history = [user("old"), assistant("old answer"), user("new"), user("steered")]
    assert is_first_request(history, 2)
    assert not is_first_request([*history, assistant("reply")], 2)
    assert not is_first_request([user("new"), compaction()], 0)


@pytest.mark.parametrize(("value", "cap"), [(None, 3), (5, 5), (0, 3), (-1, 3), (True, 3), ("4", 3)])
def test_the_per_turn_cap_is_a_positive_integer_or_the_default(value: object, cap: int, tmp_path: Path) -> None:
    overrides = [] if value is None else [f"max_compactions_per_turn={value!r}".replace("'", '"')]
    if isinstance(value, bool):
        overrides = ["max_compactions_per_turn=true"]
    assert turn_cap(Settings.load(env={"THREADLINE_HOME": str(tmp_path)}, overrides=overrides)) == cap


def test_both_remote_flavours_are_announced_as_remote() -> None:
    assert [mode_of(p) for p in ("inline", "remote_v1", "remote_v2", "local")] == [
        "inline", "remote", "remote", "local"]
