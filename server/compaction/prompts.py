"""The texts local compaction puts in front of the model, in Threadline's own words.

`COMPACT_PROMPT` is the default `compact_prompt`: the last user message of the summarization request (config
`compact_prompt` replaces it). `SUMMARY_BRIDGE_PREFIX` opens the user message that carries the summary in the
replacement history. It starts with `SUMMARY_MARKER`, a stable tag that lets later compactions recognise an
earlier summary as injected context rather than something the user typed — keep the marker unchanged even if
the wording around it changes, or summaries written by older versions stop being recognised.
"""

from __future__ import annotations

__all__ = ["COMPACT_PROMPT", "EMPTY_SUMMARY", "SUMMARY_BRIDGE_PREFIX", "SUMMARY_MARKER", "summary_message_text"]

SUMMARY_MARKER = "<handoff_summary>"

COMPACT_PROMPT = """\
Stop working on the task for a moment: this conversation is about to be cut short. Everything above this \
message will be removed, and the work will continue from what you write now — whoever picks it up (possibly a \
different model) will see your text and nothing else of the transcript.

Write a handoff summary with these parts:

1. Goal: what the user asked for, in their terms, including constraints and preferences they stated.
2. Decisions: what was settled and why, and approaches that were tried and abandoned.
3. Current state: what is finished and verified, what is in progress, what is known to be broken.
4. Files and commands: the paths, names, commands and results that matter for continuing; quote exact \
values (error text, versions, identifiers, line numbers) where guessing them would cost time.
5. Open tasks: what is left, in the order it should be done.
6. Next step: the single action to take first.

Be brief, but leave nothing out that is needed to carry on without the original conversation. Skip \
greetings and narration of how you got here. Do not call tools; answer with the summary only."""

SUMMARY_BRIDGE_PREFIX = f"""\
{SUMMARY_MARKER}
The earlier part of this conversation was condensed to save context. An assistant that was working on this \
task wrote the summary below as a handoff. Treat it as your own notes: rely on it, do not repeat work it \
reports as done, and check the actual state of files and tools before acting on details that may have \
changed. Continue the task from here."""

EMPTY_SUMMARY = "(the summarization request returned no text)"


def summary_message_text(summary: str) -> str:
    """The text of the bridge message: the prefix, then the summary (or a placeholder when it is empty)."""
    body = summary.strip() or EMPTY_SUMMARY
    return f"{SUMMARY_BRIDGE_PREFIX}\n\n{body}"
