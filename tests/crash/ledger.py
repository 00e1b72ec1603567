"""What a client saw before the daemon died, and the checks a reopened home must pass against it.

The crash tests write through the real daemon and record, on the client side, what the daemon acknowledged:
thread starts, turn ids, every `item/completed`, each `turn/completed`, renames and forks. After a SIGKILL a
fresh daemon opens the same home and `check_thread` holds every thread to a *consistent prefix* of that:

- `thread/read {includeTurns}` never errors; turns come in the order they were started;
- every turn's items are a prefix of what the model was scripted to produce, in order, and a `completed`
  turn has all of them; a turn the client saw complete reads exactly as it was shown (status and items);
- a turn the client never heard of (killed before its `turn/start` answer) has no items and is the last one;
- item ids are unique in the thread; a fork the client saw reads as its fork response (turns and name); an
  acknowledged rename sticks (an unacknowledged one may or may not have landed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
Shape = tuple[str, str | None]

IN_PROGRESS = "inProgress"
STATUSES = {"completed", "interrupted", "failed", IN_PROGRESS}


@dataclass
class TurnNote:
    text: str
    expected: list[Shape]
    turn_id: str | None = None
    seen_items: list[Message] = field(default_factory=list)
    final: Message | None = None


@dataclass
class ThreadNote:
    id: str
    turns: list[TurnNote] = field(default_factory=list)
    names_sent: list[str] = field(default_factory=list)
    names_acked: int = 0
    fork_of: str | None = None
    fork_turns: list[Message] | None = None
    """The turns of the fork response (None: the fork's answer never arrived)."""
    fork_name: str | None = None
    """The name of the fork response: its source's at the fork."""


@dataclass
class Findings:
    """Facts worth reporting that the checks tolerate (a reopened turn still `inProgress`)."""

    in_progress_after_reopen: int = 0
    turns_checked: int = 0
    threads_checked: int = 0
    threads_written: int = 0


def shape(item: Message) -> Shape:
    kind = item["type"]
    if kind == "userMessage":
        return kind, item["content"][0]["text"] if item["content"] else ""
    if kind == "agentMessage":
        return kind, item["text"]
    if kind == "dynamicToolCall":
        return kind, f"{item['tool']}:{item['status']}"
    return kind, None


def shapes(turn: Message) -> list[Shape]:
    return [shape(item) for item in turn["items"]]


def check_thread(note: ThreadNote, thread: Message, findings: Findings) -> None:
    where = f"thread {note.id}"
    turns = thread["turns"]
    findings.threads_checked += 1
    _check_name(note, thread, where)
    ids = [item["id"] for turn in turns for item in turn["items"]]
    assert len(ids) == len(set(ids)), f"{where}: an item id appears twice"
    for turn in turns:
        assert turn["status"] in STATUSES, f"{where}: unknown turn status {turn['status']!r}"
        findings.turns_checked += 1
        if turn["status"] == IN_PROGRESS:
            findings.in_progress_after_reopen += 1
    if note.fork_of is not None:
        assert thread["forkedFromId"] == note.fork_of, f"{where}: forkedFromId lost"
        if note.fork_turns is not None:
            assert [(t["status"], shapes(t)) for t in turns] == [(t["status"], shapes(t)) for t in note.fork_turns], \
                f"{where}: the fork does not read as its fork response"
        return
    _check_turns(note, turns, where)


def _check_name(note: ThreadNote, thread: Message, where: str) -> None:
    if note.fork_of is not None:  # never renamed here: it keeps the name its answer gave it (its source's)
        allowed: list[str | None] = [note.fork_name]
    elif note.names_acked:
        allowed = list(note.names_sent[note.names_acked - 1:])
    else:
        allowed = [None, *note.names_sent]
    assert thread["name"] in allowed, f"{where}: name {thread['name']!r} is none of {allowed}"


def _check_turns(note: ThreadNote, turns: list[Message], where: str) -> None:
    by_id = {n.turn_id: n for n in note.turns if n.turn_id is not None}
    by_text = {n.text: n for n in note.turns}
    positions: list[int] = []
    for index, turn in enumerate(turns):
        got = shapes(turn)
        tn = by_id.get(turn["id"]) or (by_text.get(got[0][1] or "") if got else None)
        if tn is None:
            assert got == [] and index == len(turns) - 1, f"{where}: unknown turn {turn['id']} with items {got}"
            assert turn["status"] != "completed", f"{where}: a turn nobody started completed"
            continue
        positions.append(note.turns.index(tn))
        assert got == tn.expected[:len(got)], f"{where}: turn {turn['id']} items {got} are not a prefix of {tn.expected}"
        if turn["status"] == "completed":
            assert got == tn.expected, f"{where}: completed turn {turn['id']} is missing items: {got}"
        if tn.final is not None:
            assert turn["status"] == tn.final["status"], f"{where}: turn {turn['id']} changed status after its end"
            assert turn["items"] == tn.seen_items, f"{where}: turn {turn['id']} differs from what the client saw"
    assert positions == sorted(positions), f"{where}: turns are out of order"
    kept = {t["id"] for t in turns}
    for tn in note.turns:
        if tn.final is not None:
            assert tn.turn_id in kept, f"{where}: turn {tn.turn_id} was reported completed but is gone"
