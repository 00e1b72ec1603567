"""Client-side (dynamic) tools: a model's ``function_call`` becomes an ``item/tool/call`` request.

Contract:
- The model's arguments are validated against the tool's ``inputSchema`` first; the client never receives
  arguments that break its schema. Invalid arguments, unknown tools and unparsable JSON go back to the model
  as an error ``function_call_output`` and the turn continues.
- A valid call is shown as a ``dynamicToolCall`` item (started → request → ``serverRequest/resolved`` →
  completed). A client that answers with an error or garbage yields a ``failed`` item and an error output, and
  so does a call made while no client is subscribed to the thread (no request is sent; the turn must end). A client
  that never answers — or disconnects after it was asked — is waited on until the turn is interrupted (the
  ending closes the item and gives the call an "aborted" output so the history stays valid).
- ``run_tool_call`` appends the call's ``function_call_output`` to the history itself, before its item
  completes, so the item's write carries it: a stored completed call is one whose answer the model gets.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.methods import ServerRequestMethod as R
from protocol._generated.types import (
    DynamicToolCallParams,
    DynamicToolCallResponse,
    DynamicToolCallThreadItem,
    InputTextDynamicToolCallOutputContentItem,
    ServerRequestResolvedNotification,
)

from ..errors import RemoteError
from ..ids import now_ms
from .convert import tool_output_content
from .peer import NoSubscriber
from .request import tool_index
from .schemas import SchemaUnusable, validation_errors
from .turn import ActiveTurn

__all__ = ["run_tool_call"]

logger = logging.getLogger(__name__)
_response_decoder = msgspec.json.Decoder(DynamicToolCallResponse)


def _output(call_id: str, output: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def _argument_problem(schema: Any, arguments: Any) -> str | None:
    try:
        errors = validation_errors(schema, arguments)
    except SchemaUnusable as exc:  # the client's schema itself is broken: the model cannot fix that, but it learns
        return f"the tool's input schema cannot be used ({exc})"
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].absolute_path)
    return f"{errors[0].message} (at /{where})"


async def run_tool_call(turn: ActiveTurn, call: dict[str, Any]) -> None:
    """Run one ``function_call``; its ``function_call_output`` joins the history."""
    name = str(call.get("name", ""))
    call_id = str(call.get("call_id") or call.get("id") or "")
    found = tool_index(turn.session.meta.settings.dynamic_tools).get(name)
    if found is None:
        turn.append_history([_output(call_id, f"error: there is no tool named `{name}`; use one of the tools you "
                                              "were given")])
        return
    namespace, spec = found
    try:
        arguments = msgspec.json.decode(call.get("arguments") or "{}")
    except msgspec.DecodeError:
        turn.append_history([_output(call_id, f"error: the arguments for `{name}` are not valid JSON; send a JSON "
                                              "object")])
        return
    problem = _argument_problem(spec.input_schema, arguments)
    if problem is not None:
        turn.append_history([_output(call_id, f"error: the arguments for `{name}` do not match its input schema: "
                                              f"{problem}")])
        return

    item = DynamicToolCallThreadItem(id=call_id, tool=spec.name, namespace=namespace, arguments=arguments,
                                     status="inProgress", content_items=None, success=None, duration_ms=None)
    await turn.item_started(item)
    started = now_ms()
    request_ids: list[Any] = []
    params = DynamicToolCallParams(thread_id=turn.thread_id, turn_id=turn.turn_id, call_id=call_id, tool=spec.name,
                                   namespace=namespace, arguments=arguments)
    success, content, note = False, [], ""
    try:
        raw = await turn.session.subscribers.request(R.ITEM_TOOL_CALL, params, on_id=request_ids.append)
        answer = _response_decoder.decode(raw)
        success, content = answer.success, list(answer.content_items)
    except NoSubscriber:
        note = "the tool could not be run: no client is subscribed to this thread"
    except RemoteError as exc:
        note = f"the client failed to run the tool: {exc.message}"
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        note = f"the client's answer is not a tool result: {exc}"
    finally:
        with anyio.CancelScope(shield=True):
            for rid in request_ids:
                await turn.session.emit(N.SERVER_REQUEST_RESOLVED,
                                        ServerRequestResolvedNotification(thread_id=turn.thread_id, request_id=rid))
    if note:
        content = [InputTextDynamicToolCallOutputContentItem(text=note)]
    done = msgspec.structs.replace(item, status="completed" if success else "failed", content_items=content,
                                   success=success, duration_ms=now_ms() - started)
    output = tool_output_content(content)
    if not success and not note:  # the model must be able to tell a failure from a result
        if isinstance(output, str):
            output = f"error: {output}" if output else "error: the tool reported a failure"
        else:
            output = [{"type": "input_text", "text": "error: the tool reported a failure"}, *output]
    turn.append_history([_output(call_id, output)])
    await turn.item_completed(done)  # written with the output: no stored answered call reads as aborted
