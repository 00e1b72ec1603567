"""Remote compaction output (v1 /responses/compact, v2 compaction_trigger) turned into history, or refused."""

from __future__ import annotations

import pytest

from server.compaction.remote import InvalidCompactionOutput, process_remote_output

from .factories import assistant, call, compaction, developer, env_context, output, reasoning, user


def test_v1_keeps_real_user_messages_assistant_messages_and_the_compaction_in_order() -> None:
    returned = [
        developer("permissions"),
        env_context(),
        user("task"),
        reasoning(),
        call("c1"),
        output("c1"),
        assistant("progress"),
        user("more"),
        compaction(),
    ]
    assert process_remote_output(returned) == [user("task"), assistant("progress"), user("more"), compaction()]


def test_v1_without_a_compaction_item_is_refused() -> None:
    with pytest.raises(InvalidCompactionOutput):
        process_remote_output([user("task")])


def test_a_compaction_item_without_encrypted_content_is_refused() -> None:
    with pytest.raises(InvalidCompactionOutput, match="encrypted_content"):
        process_remote_output([user("task"), {"type": "compaction", "encrypted_content": ""}])


def test_v2_requires_exactly_one_compaction_item() -> None:
    with pytest.raises(InvalidCompactionOutput, match="exactly one"):
        process_remote_output([], version="v2", request_input=[user("t")])
    with pytest.raises(InvalidCompactionOutput, match="exactly one"):
        process_remote_output([compaction("a"), compaction("b")], version="v2", request_input=[user("t")])


def test_v2_keeps_the_requests_real_user_messages_then_the_compaction() -> None:
    request_input = [env_context(), user("task"), assistant("a"), call("c1"), output("c1"), user("steer")]
    streamed = [reasoning(), compaction()]
    result = process_remote_output(streamed, version="v2", request_input=request_input)
    assert result == [user("task"), user("steer"), compaction()]


def test_codex_private_context_compaction_is_not_accepted_as_the_compaction() -> None:
    private = {"type": "context_compaction", "encrypted_content": "E"}
    with pytest.raises(InvalidCompactionOutput):
        process_remote_output([private], version="v2")
    assert process_remote_output([private, compaction()]) == [compaction()]


def test_the_legacy_compaction_summary_spelling_is_accepted_as_compaction() -> None:
    result = process_remote_output([{"type": "compaction_summary", "encrypted_content": "E"}], version="v2")
    assert result == [{"type": "compaction", "encrypted_content": "E"}]


def test_stray_non_object_entries_are_skipped() -> None:
    assert process_remote_output(["junk", 3, None, compaction()]) == [compaction()]
