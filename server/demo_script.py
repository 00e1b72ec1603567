"""The demo's conversation: what the user says, what the simulated model answers, and the one client tool.

Contract: `SCRIPT` is an ordered list of `Exchange`s (a user prompt plus the simulator replies that answer it;
a reply that calls a tool is followed by the reply to the follow-up request). `enqueue_script(sim, n)` queues
the replies for the first `n` exchanges, in request order. `TOOL_SPEC` is the `dynamicTools` entry the demo
registers at `thread/start`, and `answer_tool_call(params)` is the demo's own implementation of it (a tiny
read-only virtual workspace), used offline and live alike. Replies stream word by word, with a small delay
per event so the terminal shows text arriving rather than appearing at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from server.simulator import FunctionCall, Reasoning, Reply, Simulator, Text, Usage

__all__ = ["DEVELOPER_INSTRUCTIONS", "SCRIPT", "TOOL_NAME", "TOOL_SPEC", "Exchange", "answer_tool_call",
           "compaction_summary", "enqueue_script"]

TOOL_NAME = "read_file"
_EVENT_DELAY = 0.008  # seconds between streamed events: visible streaming, still a few seconds in all

SOURCE_PATH = "app/settings.py"
SOURCE = '''\
def parse_config(text):
    cfg = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        k, v = line.split("=")
        k = k.strip(); v = v.strip()
        if k == "port":
            v = int(v)
            if v < 1 or v > 65535:
                print("bad port")
                v = 8080
        cfg[k] = v
    return cfg
'''

TOOL_SPEC: dict[str, Any] = {
    "type": "function",
    "name": TOOL_NAME,
    "description": "Read a file from the user's project and return its text.",
    "inputSchema": {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "path relative to the project root"}},
        "required": ["path"],
        "additionalProperties": False,
    },
}

DEVELOPER_INSTRUCTIONS = (
    "You are pairing with a Python developer in a short terminal demo. Keep every answer under 150 words. "
    f"The project has one relevant file, {SOURCE_PATH}; read it with the {TOOL_NAME} tool before judging it."
)


@dataclass(frozen=True)
class Exchange:
    prompt: str
    replies: tuple[Reply, ...]


def _words(text: str) -> Text:
    """`text` streamed one word (with its trailing whitespace) per delta, like a real model's tokens."""
    return Text.from_deltas(re.findall(r"\S+\s*|\s+", text))


def _reply(*output: Any, usage: Usage) -> Reply:
    return Reply(output=list(output), usage=usage, event_delay=_EVENT_DELAY)


_REVIEW = (
    "I read `parse_config` in app/settings.py. Three problems stand out:\n\n"
    "1. `line.split(\"=\")` breaks on values that contain `=`; use `partition(\"=\")`.\n"
    "2. Parsing and validation are tangled: the port check lives inside the loop.\n"
    "3. An invalid port is *printed* and silently replaced by 8080, so a typo in production config "
    "goes unnoticed. It should raise instead.\n"
)
_REFACTOR = (
    "Here is a version that keeps the public signature but separates the two jobs:\n\n"
    "```python\n"
    "def parse_config(text: str) -> dict[str, object]:\n"
    "    return validate(dict(_pairs(text)))\n\n"
    "def _pairs(text):\n"
    "    for line in text.splitlines():\n"
    "        if line.strip() and not line.lstrip().startswith(\"#\"):\n"
    "            key, _, value = line.partition(\"=\")\n"
    "            yield key.strip(), value.strip()\n\n"
    "def validate(cfg):\n"
    "    if \"port\" in cfg:\n"
    "        port = int(cfg[\"port\"])\n"
    "        if not 1 <= port <= 65535:\n"
    "            raise ValueError(f\"port out of range: {port}\")\n"
    "        cfg[\"port\"] = port\n"
    "    return cfg\n"
    "```\n"
)
_TEST = (
    "A focused test for the case that used to be swallowed:\n\n"
    "```python\n"
    "import pytest\n"
    "from app.settings import parse_config\n\n"
    "def test_an_out_of_range_port_is_an_error():\n"
    "    with pytest.raises(ValueError, match=\"port out of range: 70000\"):\n"
    "        parse_config(\"host = example.org\\nport = 70000\\n\")\n"
    "```\n"
)
_COMMIT = (
    "settings: split parse_config into parsing and validation\n\n"
    "Values may now contain '=', and an out-of-range port raises ValueError instead of being "
    "printed and replaced by 8080. Adds a test for the invalid-port case.\n"
)

SCRIPT: tuple[Exchange, ...] = (
    Exchange(
        f"Can you look at parse_config in {SOURCE_PATH} and tell me what's wrong with it?",
        (
            _reply(Reasoning(summary=["Reading the function before judging it; the user wants concrete problems."]),
                   FunctionCall(TOOL_NAME, msgspec.json.encode({"path": SOURCE_PATH}).decode()),
                   usage=Usage(input_tokens=412, output_tokens=38, reasoning_tokens=24)),
            _reply(_words(_REVIEW), usage=Usage(input_tokens=655, output_tokens=96, cached_tokens=384)),
        ),
    ),
    Exchange("Refactor it: split parsing from validation, and keep the public signature.",
             (_reply(_words(_REFACTOR), usage=Usage(input_tokens=790, output_tokens=142, cached_tokens=640)),)),
    Exchange("Add a test for the invalid-port case.",
             (_reply(_words(_TEST), usage=Usage(input_tokens=960, output_tokens=71, cached_tokens=768)),)),
    Exchange("Great. Write the commit message.",
             (_reply(_words(_COMMIT), usage=Usage(input_tokens=1058, output_tokens=52, cached_tokens=896)),)),
)


def enqueue_script(sim: Simulator, turns: int) -> None:
    """Queue the simulator replies for the first `turns` exchanges."""
    for exchange in SCRIPT[:turns]:
        sim.enqueue(*exchange.replies)


def compaction_summary() -> Reply:
    """What the simulated model says if the daemon compacts by asking it for a summary (local mode)."""
    text = ("Summary so far: reviewed parse_config, refactored it into _pairs + validate (port range now raises "
            "ValueError), added a pytest for port 70000, and wrote the commit message.")
    return _reply(_words(text), usage=Usage(input_tokens=1200, output_tokens=40))


def answer_tool_call(params: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's `read_file`: a one-file virtual workspace. Returns a `DynamicToolCallResponse` (wire shape)."""
    arguments = params.get("arguments")
    path = str(arguments.get("path", "")) if isinstance(arguments, Mapping) else ""
    if path.lstrip("./") == SOURCE_PATH:
        return {"contentItems": [{"type": "inputText", "text": SOURCE}], "success": True}
    message = f"no such file: {path!r} (this demo's project only has {SOURCE_PATH})"
    return {"contentItems": [{"type": "inputText", "text": message}], "success": False}
