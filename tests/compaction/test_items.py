"""What counts as a real user message, and how items are classified and made safe to send."""

from __future__ import annotations

from server.compaction.items import canonical_item, is_model_generated, is_real_user_message
from server.compaction.prompts import summary_message_text

from .factories import (
    assistant,
    call,
    compaction,
    developer,
    env_context,
    image_message,
    output,
    reasoning,
    user,
)


def test_a_typed_user_message_is_real() -> None:
    assert is_real_user_message(user("fix the flaky test"))


def test_the_short_message_form_without_a_type_counts() -> None:
    assert is_real_user_message({"role": "user", "content": "plain string content"})


def test_injected_environment_and_instruction_wrappers_are_not_real() -> None:
    assert not is_real_user_message(env_context())
    assert not is_real_user_message(user("<user_instructions>\nbe terse\n</user_instructions>"))
    assert not is_real_user_message(user("  \n<environment_context>…</environment_context>"))


def test_a_summary_bridge_message_we_wrote_is_not_real() -> None:
    assert not is_real_user_message(user(summary_message_text("we were fixing the parser")))


def test_other_roles_and_item_types_are_not_real_user_messages() -> None:
    for item in (assistant("hi"), developer("rules"), output("c1"), call("c1"), compaction()):
        assert not is_real_user_message(item)


def test_an_image_only_message_is_real_and_an_empty_one_is_not() -> None:
    assert is_real_user_message(image_message())
    assert not is_real_user_message({"type": "message", "role": "user", "content": []})


def test_a_marker_later_in_the_text_does_not_make_a_message_injected() -> None:
    assert is_real_user_message(user("why does <environment_context> appear in the prompt?"))


def test_model_generated_items_are_assistant_messages_and_non_output_items() -> None:
    assert is_model_generated(assistant("a"))
    assert is_model_generated(reasoning())
    assert is_model_generated(call("c1"))
    assert is_model_generated(compaction())
    assert not is_model_generated(output("c1"))
    assert not is_model_generated(user("u"))
    assert not is_model_generated(developer("d"))


def test_codex_private_and_transient_items_are_never_made_sendable() -> None:
    assert canonical_item({"type": "context_compaction", "encrypted_content": "x"}) is None
    assert canonical_item({"type": "compaction_trigger"}) is None


def test_the_legacy_compaction_spelling_is_renamed() -> None:
    legacy = {"type": "compaction_summary", "encrypted_content": "x"}
    assert canonical_item(legacy) == {"type": "compaction", "encrypted_content": "x"}
    assert legacy["type"] == "compaction_summary"  # the input is not mutated
