"""jsonschema and the generated msgspec types give the same verdict on example params (lsprotocol-style vectors).

Verdict parity matters because the daemon decodes with msgspec while tests validate with the schema; a valid
example must also round-trip decode → encode → decode unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from protocol._generated import types as t
from protocol._generated.methods import CLIENT_REQUESTS, SERVER_REQUESTS, ClientMethod, ServerRequestMethod
from protocol.schema import validator_for

TEXT = {"type": "text", "text": "hi"}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    (ClientMethod.INITIALIZE, {"clientInfo": {"name": "codex_python_sdk", "version": "1.0"}}, True),
    (ClientMethod.INITIALIZE, {"clientInfo": {"name": "x", "version": "1", "title": None}, "capabilities": None}, True),
    (ClientMethod.INITIALIZE, {"clientInfo": {"name": "x"}}, False),
    (ClientMethod.INITIALIZE, {"clientInfo": {"name": 1, "version": "1"}}, False),
    (ClientMethod.THREAD_START, {}, True),
    (ClientMethod.THREAD_START, {"model": None, "approvalPolicy": "never", "config": {"a": [1]}}, True),
    (ClientMethod.THREAD_START, {"approvalPolicy": "sometimes"}, False),
    (ClientMethod.THREAD_START, {"ephemeral": "yes"}, False),
    (ClientMethod.THREAD_READ, {"threadId": "t1", "includeTurns": True}, True),
    (ClientMethod.THREAD_READ, {}, False),
    (ClientMethod.THREAD_LIST, {"limit": 10, "cursor": None}, True),
    (ClientMethod.THREAD_LIST, {"limit": -1}, False),
    (ClientMethod.TURN_START, {"threadId": "t1", "input": [TEXT]}, True),
    (ClientMethod.TURN_START, {"threadId": "t1", "input": [{"type": "text"}]}, False),
    (ClientMethod.TURN_START, {"threadId": "t1", "input": [{"type": "video", "url": "u"}]}, False),
    (ClientMethod.TURN_START, {"input": [TEXT]}, False),
]

RESULT_CASES: list[tuple[str, dict[str, Any], bool]] = [
    (ServerRequestMethod.ITEM_COMMAND_EXECUTION_REQUEST_APPROVAL, {"decision": "accept"}, True),
    (ServerRequestMethod.ITEM_COMMAND_EXECUTION_REQUEST_APPROVAL, {"decision": "maybe"}, False),
    (ServerRequestMethod.ITEM_COMMAND_EXECUTION_REQUEST_APPROVAL, {}, False),
]


def verdicts(type_: Any, example: dict[str, Any]) -> tuple[bool, bool]:
    schema_ok = validator_for(type_.__name__).is_valid(example)
    try:
        msgspec.json.decode(msgspec.json.encode(example), type=type_)
    except msgspec.ValidationError:
        return schema_ok, False
    return schema_ok, True


@pytest.mark.parametrize(("method", "params", "valid"), CASES)
def test_params_example_gets_the_same_verdict_from_schema_and_decoder(
    method: str, params: dict[str, Any], valid: bool
) -> None:
    assert verdicts(CLIENT_REQUESTS[method].params, params) == (valid, valid)


@pytest.mark.parametrize(("method", "result", "valid"), RESULT_CASES)
def test_result_example_gets_the_same_verdict_from_schema_and_decoder(
    method: str, result: dict[str, Any], valid: bool
) -> None:
    assert verdicts(SERVER_REQUESTS[method].result, result) == (valid, valid)


@pytest.mark.parametrize(("method", "params"), [(m, p) for m, p, valid in CASES if valid])
def test_valid_params_round_trip_through_the_generated_struct(method: str, params: dict[str, Any]) -> None:
    type_ = CLIENT_REQUESTS[method].params
    once = msgspec.json.decode(msgspec.json.encode(params), type=type_)
    assert msgspec.json.decode(msgspec.json.encode(once), type=type_) == once


@pytest.mark.parametrize("wire", [b'"contextWindowExceeded"', b'{"httpConnectionFailed":{"httpStatusCode":502}}'])
def test_codex_error_info_round_trips_both_forms(wire: bytes) -> None:
    """Codex's externally tagged shape: a plain string or a single-key object, re-encoded byte for byte."""
    value = msgspec.json.decode(wire, type=t.CodexErrorInfo)
    assert msgspec.json.encode(value) == wire
    assert validator_for("CodexErrorInfo").is_valid(msgspec.json.decode(wire))
