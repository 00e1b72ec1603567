"""Building one ``/responses`` request body (pure).

The whole model-visible history goes as ``input`` on every request (no ``previous_response_id``), with
``store: false``, ``stream: true``, the thread id as ``prompt_cache_key``, encrypted reasoning included when
reasoning is on, client tools as function tools, an output schema as ``text.format``, and — only when inline
compaction is in use — ``context_management``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol._generated.types import DynamicToolSpec, FunctionDynamicToolSpec

__all__ = ["DEFAULT_INSTRUCTIONS", "RequestPlan", "build_request", "tool_index"]

DEFAULT_INSTRUCTIONS = (
    "You are a capable assistant working with a developer through Threadline. Answer precisely, say what you "
    "did and what you could not do, and use the tools you are given when they help."
)


@dataclass(frozen=True)
class RequestPlan:
    model: str
    thread_id: str
    instructions: str | None = None
    developer_instructions: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    supports_reasoning: bool = False
    parallel_tool_calls: bool = False
    service_tier: str | None = None
    output_schema: Any = None
    context_management: list[dict[str, Any]] | None = None


def tool_index(tools: Sequence[DynamicToolSpec]) -> dict[str, tuple[str | None, FunctionDynamicToolSpec]]:
    """Model-facing function name → (namespace, spec). Namespaced tools are exposed as ``<ns>__<name>``."""
    index: dict[str, tuple[str | None, FunctionDynamicToolSpec]] = {}
    for tool in tools:
        if isinstance(tool, FunctionDynamicToolSpec):
            index[tool.name] = (None, tool)
        else:
            for fn in tool.tools:
                index[f"{tool.name}__{fn.name}"] = (tool.name, fn)
    return index


def _function_tools(tools: Sequence[DynamicToolSpec]) -> list[dict[str, Any]]:
    return [
        {"type": "function", "name": name, "description": spec.description, "parameters": spec.input_schema,
         "strict": False}
        for name, (_, spec) in tool_index(tools).items()
    ]


def build_request(plan: RequestPlan, history: Sequence[dict[str, Any]], tools: Sequence[DynamicToolSpec]) -> dict[str, Any]:
    input_items: list[dict[str, Any]] = []
    if plan.developer_instructions:
        input_items.append({"type": "message", "role": "developer",
                            "content": [{"type": "input_text", "text": plan.developer_instructions}]})
    input_items.extend(history)
    body: dict[str, Any] = {
        "model": plan.model,
        "instructions": plan.instructions or DEFAULT_INSTRUCTIONS,
        "input": input_items,
        "tools": _function_tools(tools),
        "tool_choice": "auto",
        "parallel_tool_calls": plan.parallel_tool_calls and bool(tools),  # providers refuse it without tools
        "store": False,
        "stream": True,
        "include": [],
        "prompt_cache_key": plan.thread_id,
    }
    if plan.supports_reasoning:
        reasoning: dict[str, Any] = {}
        if plan.reasoning_effort:
            reasoning["effort"] = plan.reasoning_effort
        if plan.reasoning_summary and plan.reasoning_summary != "none":
            reasoning["summary"] = plan.reasoning_summary
        body["reasoning"] = reasoning
        body["include"] = ["reasoning.encrypted_content"]
    if plan.service_tier:
        body["service_tier"] = plan.service_tier
    if plan.output_schema is not None:
        body["text"] = {"format": {"type": "json_schema", "strict": True, "schema": plan.output_schema,
                                   "name": "output_schema"}}
    if plan.context_management is not None:
        body["context_management"] = plan.context_management
    return body
