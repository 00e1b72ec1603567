"""Literal Responses API items for the compaction tests: small builders so each test reads as data."""

from __future__ import annotations

from typing import Any

Item = dict[str, Any]


def user(text: str) -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> Item:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def developer(text: str) -> Item:
    return {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": text}]}


def env_context(cwd: str = "/repo") -> Item:
    return user(f"<environment_context>\n  <cwd>{cwd}</cwd>\n</environment_context>")


def reasoning(item_id: str = "rs_1", encrypted: str = "ZW5jcnlwdGVk") -> Item:
    return {"type": "reasoning", "id": item_id, "summary": [], "encrypted_content": encrypted}


def call(call_id: str, *, item_id: str | None = None, name: str = "shell") -> Item:
    item: Item = {"type": "function_call", "call_id": call_id, "name": name, "arguments": "{}"}
    if item_id is not None:
        item["id"] = item_id
    return item


def output(call_id: str, text: str = "ok") -> Item:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def compaction(item_id: str = "cmp_1", encrypted: str = "Q09NUEFDVEVE") -> Item:
    return {"type": "compaction", "id": item_id, "encrypted_content": encrypted}


def image_message(url: str = "data:image/png;base64,AAAA") -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": url}]}
