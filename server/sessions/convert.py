"""Pure conversions between the client's wire types and the Responses API's items.

User input becomes a model-visible ``message`` item; completed output items become ThreadItems; a dynamic
tool's answer becomes ``function_call_output`` content. No I/O except reading a ``localImage`` file, which a
turn needs in order to send it.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol._generated.types import (
    AgentMessageThreadItem,
    AudioUserInput,
    DynamicToolCallOutputContentItem,
    ImageUserInput,
    InputAudioDynamicToolCallOutputContentItem,
    InputImageDynamicToolCallOutputContentItem,
    InputTextDynamicToolCallOutputContentItem,
    LocalAudioUserInput,
    LocalImageUserInput,
    MentionUserInput,
    ReasoningThreadItem,
    SkillUserInput,
    TextUserInput,
    ThreadItem,
    UserInput,
)

__all__ = [
    "AUDIO_PREVIEW",
    "IMAGE_PREVIEW",
    "assistant_text",
    "input_message",
    "output_to_thread_item",
    "preview_of",
    "tool_output_content",
]

_MAX_LOCAL_IMAGE = 20 * 1024 * 1024
IMAGE_PREVIEW = "[Image]"  # Codex's preview of a first message that is an image and no text
AUDIO_PREVIEW = "[Audio]"


def _read_image(path: str) -> bytes | None:
    """The file's bytes when it is a regular file within the limit: a FIFO or a device never ends a read."""
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            data = file.read(_MAX_LOCAL_IMAGE + 1)  # bounded even if the file grew since it was opened
    except OSError:
        return None
    return data if len(data) <= _MAX_LOCAL_IMAGE else None


def _local_image(path: str, detail: str | None) -> dict[str, Any]:
    data = _read_image(path)
    if data is None:
        return {"type": "input_text", "text": f"[image at {path} could not be read]"}
    mime = mimetypes.guess_type(Path(path).name)[0] or "image/png"
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return {"type": "input_image", "image_url": url, "detail": detail or "auto"}


def _content_part(item: UserInput) -> dict[str, Any]:
    if isinstance(item, TextUserInput):
        return {"type": "input_text", "text": item.text}
    if isinstance(item, ImageUserInput):
        part: dict[str, Any] = {"type": "input_image", "detail": item.detail or "auto"}
        if isinstance(item.url, str):
            part["image_url"] = item.url
        elif isinstance(item.file_id, str):
            part["file_id"] = item.file_id
        return part
    if isinstance(item, LocalImageUserInput):
        return _local_image(item.path, item.detail)
    if isinstance(item, AudioUserInput | LocalAudioUserInput):
        where = item.url if isinstance(item, AudioUserInput) else item.path
        return {"type": "input_text", "text": f"[audio attachment: {where}]"}
    if isinstance(item, SkillUserInput):
        return {"type": "input_text", "text": f"[use skill {item.name} ({item.path})]"}
    if isinstance(item, MentionUserInput):
        return {"type": "input_text", "text": f"[mentioned {item.name} ({item.path})]"}
    raise TypeError(f"unsupported user input {type(item).__name__}")


def input_message(inputs: Sequence[UserInput]) -> dict[str, Any]:
    """The model-visible user message for one ``turn/start`` or ``turn/steer`` input list."""
    return {"type": "message", "role": "user", "content": [_content_part(i) for i in inputs]}


def preview_of(inputs: Sequence[UserInput]) -> str:
    """A thread's preview: the first text the user typed (trimmed to one screen line); for input without text,
    Codex's placeholder for its first image or audio clip. "" for anything else, and a thread whose preview is ""
    is not listed (``thread/list``) until a later input gives it one, as Codex lists a thread from its first
    user message on."""
    for item in inputs:
        if isinstance(item, TextUserInput) and item.text.strip():
            return item.text.strip().splitlines()[0][:200]
    for item in inputs:
        if isinstance(item, ImageUserInput | LocalImageUserInput):
            return IMAGE_PREVIEW
        if isinstance(item, AudioUserInput | LocalAudioUserInput):
            return AUDIO_PREVIEW
    return ""


def assistant_text(item: dict[str, Any]) -> str:
    parts = item.get("content") or []
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "output_text")


def output_to_thread_item(item: dict[str, Any]) -> ThreadItem | None:
    """The client-visible item for a completed output item, or None for kinds handled elsewhere (tool calls,
    compaction) or not shown."""
    kind = item.get("type")
    item_id = str(item.get("id") or "")
    if kind == "message" and item.get("role") == "assistant":
        phase = item.get("phase") if item.get("phase") in ("commentary", "partial_answer", "final_answer") else None
        return AgentMessageThreadItem(id=item_id, text=assistant_text(item), phase=phase, delivery=None,
                                      memory_citation=None, questions=None)
    if kind == "reasoning":
        summary = [s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict)]
        content = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        return ReasoningThreadItem(id=item_id, summary=summary, content=content)
    return None


def tool_output_content(items: Sequence[DynamicToolCallOutputContentItem]) -> str | list[dict[str, Any]]:
    """``function_call_output.output`` for a client tool's content: plain text when it is only text."""
    if all(isinstance(i, InputTextDynamicToolCallOutputContentItem) for i in items):
        return "\n".join(i.text for i in items)  # type: ignore[union-attr]
    out: list[dict[str, Any]] = []
    for i in items:
        if isinstance(i, InputTextDynamicToolCallOutputContentItem):
            out.append({"type": "input_text", "text": i.text})
        elif isinstance(i, InputImageDynamicToolCallOutputContentItem):
            out.append({"type": "input_image", "image_url": i.image_url})
        elif isinstance(i, InputAudioDynamicToolCallOutputContentItem):
            out.append({"type": "input_text", "text": f"[audio: {i.audio_url}]"})
    return out
