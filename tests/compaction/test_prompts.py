"""The compact prompt and summary bridge: our own texts, with a stable marker."""

from __future__ import annotations

from server.compaction.prompts import COMPACT_PROMPT, SUMMARY_BRIDGE_PREFIX, SUMMARY_MARKER, summary_message_text


def test_the_compact_prompt_asks_for_every_part_of_a_handoff() -> None:
    for part in ("Goal", "Decisions", "Current state", "Files and commands", "Open tasks", "Next step"):
        assert part in COMPACT_PROMPT


def test_the_bridge_opens_with_the_stable_marker_and_precedes_the_summary() -> None:
    assert SUMMARY_BRIDGE_PREFIX.startswith(SUMMARY_MARKER)
    assert summary_message_text("  S  ") == f"{SUMMARY_BRIDGE_PREFIX}\n\nS"
