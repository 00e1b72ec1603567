"""Re-seeding a rewritten history with the session's context for a turn that continues (our rule)."""

from __future__ import annotations

from server.compaction.history import insert_initial_context
from server.compaction.prompts import summary_message_text

from .factories import assistant, compaction, developer, env_context, user

CONTEXT = [developer("permissions"), env_context()]


def test_context_goes_just_before_the_last_real_user_message() -> None:
    history = [user("a"), user("b"), compaction()]
    assert insert_initial_context(history, CONTEXT) == [user("a"), *CONTEXT, user("b"), compaction()]


def test_without_a_user_message_context_goes_before_the_summary() -> None:
    summary = user(summary_message_text("s"))
    assert insert_initial_context([assistant("x"), summary], CONTEXT) == [assistant("x"), *CONTEXT, summary]


def test_without_user_or_summary_messages_context_goes_before_the_compaction_item() -> None:
    assert insert_initial_context([compaction(), assistant("x")], CONTEXT) == [*CONTEXT, compaction(), assistant("x")]


def test_otherwise_context_is_appended() -> None:
    assert insert_initial_context([assistant("x")], CONTEXT) == [assistant("x"), *CONTEXT]
    assert insert_initial_context([], CONTEXT) == CONTEXT
