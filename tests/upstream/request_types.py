"""Checking a recorded upstream request against the `openai` package's own Responses API request types.

`problems(request)` lists what `ResponseCreateParamsStreaming` (or `ResponseCompactParams`) finds wrong with one
request the simulator recorded, unknown keys included (pydantic would drop them without a word); empty: nothing.
Two things go beyond the SDK's types on purpose, because Codex sends them too: `tools` and `parallel_tool_calls`
on `/responses/compact`, and remote v2's transient `{"type": "compaction_trigger"}` as the last input item.
Importing this module skips the importing test module when `openai` or `pydantic` is not installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.simulator import RecordedRequest, Simulator

__all__ = ["assert_all_valid", "problems"]

pydantic = pytest.importorskip("pydantic")
responses_types = pytest.importorskip("openai.types.responses", reason="the openai package is not installed")
create_params = pytest.importorskip("openai.types.responses.response_create_params")

_ADAPTERS = {
    "responses": pydantic.TypeAdapter(create_params.ResponseCreateParamsStreaming),
    "compact": pydantic.TypeAdapter(responses_types.ResponseCompactParams),
}
_BEYOND_THE_SDK = {"compact": {"/tools", "/parallel_tool_calls"}, "responses": set()}
_TRIGGER = {"type": "compaction_trigger"}


def _unknown_keys(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Keys of `sent` that validation dropped from `kept`: the ones the types do not know."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        return [p for key, value in sent.items()
                for p in ([f"{path}/{key}"] if key not in kept else _unknown_keys(value, kept[key], f"{path}/{key}"))]
    if isinstance(sent, list) and isinstance(kept, list):
        return [p for i, (a, b) in enumerate(zip(sent, kept, strict=False)) for p in _unknown_keys(a, b, f"{path}/{i}")]
    return []


def problems(request: RecordedRequest) -> list[str]:
    """What the OpenAI API's request types find wrong with one recorded request (empty: nothing)."""
    endpoint = "compact" if request.path.endswith("/responses/compact") else "responses"
    body = dict(request.body)
    if body.get("input") and body["input"][-1] == _TRIGGER:
        body["input"] = body["input"][:-1]
    try:
        kept = _ADAPTERS[endpoint].validate_python(body)
    except pydantic.ValidationError as exc:
        return [f"{request.path}: {error['loc']}: {error['msg']}" for error in exc.errors()[:5]]
    return [f"{request.path}: unknown key {key}" for key in _unknown_keys(body, kept)
            if key not in _BEYOND_THE_SDK[endpoint]]


def assert_all_valid(sim: Simulator) -> None:
    assert sim.requests, "nothing was sent upstream"
    found = [problem for request in sim.requests for problem in problems(request)]
    assert not found, "requests the OpenAI API would refuse:\n" + "\n".join(found)
