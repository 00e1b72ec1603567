"""The files under ``schema/`` are well-formed, merge into one consistent bundle, and accept real-shaped messages.

These tests read the JSON files directly (not the generated code), so they guard the conventions of
CONTRIBUTING.md that the generator relies on: one shared ``$defs`` namespace, titles equal to keys, refs that
resolve, named inline objects, decodable unions, and the method-union shape.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF = "#/$defs/"
UNIONS = ("ClientRequest", "ClientNotification", "ServerRequest", "ServerNotification")
FORBIDDEN = ("allOf", "if", "then", "else", "patternProperties", "dependentSchemas", "$id", "definitions")


def _files() -> dict[str, dict[str, Any]]:
    return {p.name: msgspec.json.decode(p.read_bytes()) for p in sorted(SCHEMA_DIR.glob("*.json"))}


FILES = _files()


def _bundle() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for doc in FILES.values():
        defs.update(doc["$defs"])
    return {"$schema": DIALECT, "$defs": defs}


BUNDLE = _bundle()
DEFS: dict[str, Any] = BUNDLE["$defs"]


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every schema-bearing dict below ``node``, with a readable path. Skips ``x-*`` annotations' insides."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("enum", "const", "default", "examples", "required") or key.startswith("x-"):
                continue
            if key == "properties":
                for name, sub in value.items():
                    yield from _walk(sub, f"{path}.{name}")
            else:
                yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$schema": DIALECT, "$defs": DEFS, "$ref": REF + name})


def _errors(name: str, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(instance)]


def _response_type(method: str) -> str:
    for variant in DEFS["ClientRequest"]["oneOf"]:
        if variant["properties"]["method"]["const"] == method:
            return variant["x-response"]["$ref"].removeprefix(REF)
    raise KeyError(method)


# ---------------------------------------------------------------------------------------------------------------
# Structure


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_is_a_valid_draft_2020_12_document_with_title_and_description(name: str) -> None:
    doc = FILES[name]
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == DIALECT
    assert doc.get("title") and doc.get("description")
    assert set(doc) == {"$schema", "title", "description", "$defs"}


def test_no_name_is_defined_in_two_files() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for fname, doc in FILES.items():
        for key in doc["$defs"]:
            if key in seen:
                clashes.append(f"{key} in {seen[key]} and {fname}")
            seen[key] = fname
    assert not clashes


def test_the_merged_bundle_is_a_valid_schema() -> None:
    Draft202012Validator.check_schema(BUNDLE)


def test_every_definition_repeats_its_key_as_title_and_has_a_description() -> None:
    bad = [k for k, v in DEFS.items() if v.get("title") != k or not v.get("description")]
    assert not bad


def test_every_ref_resolves_in_the_bundle() -> None:
    missing = []
    for key, schema in DEFS.items():
        for path, node in _walk(schema, key):
            ref = node.get("$ref")
            if ref is not None and (not ref.startswith(REF) or ref.removeprefix(REF) not in DEFS):
                missing.append(f"{path}: {ref}")
        for variant in schema.get("oneOf", []):
            ref = variant.get("x-response", {}).get("$ref")
            if ref is not None and ref.removeprefix(REF) not in DEFS:
                missing.append(f"{key}/{variant.get('title')}: x-response {ref}")
    assert not missing


def test_every_definition_is_used_somewhere() -> None:
    used: set[str] = set()
    for schema in DEFS.values():
        for _, node in _walk(schema):
            if "$ref" in node:
                used.add(node["$ref"].removeprefix(REF))
        for variant in schema.get("oneOf", []):
            if "x-response" in variant:
                used.add(variant["x-response"]["$ref"].removeprefix(REF))
    envelope = {"RequestId", "JSONRPCRequest", "JSONRPCNotification", "JSONRPCResponse", "JSONRPCError"}
    unused = set(DEFS) - used - set(UNIONS) - envelope
    assert not unused


def test_titles_are_unique_across_the_bundle() -> None:
    titles: dict[str, str] = {}
    dupes = []
    for key, schema in DEFS.items():
        for path, node in _walk(schema, key):
            title = node.get("title")
            if isinstance(title, str):
                if title in titles and titles[title] != path:
                    dupes.append(f"{title}: {titles[title]} and {path}")
                titles[title] = path
    assert not dupes


def test_no_construct_the_generator_does_not_support() -> None:
    found = []
    for key, schema in DEFS.items():
        for path, node in _walk(schema, key):
            found += [f"{path}: {word}" for word in FORBIDDEN if word in node]
    assert not found


def test_every_object_with_properties_is_named_and_lists_only_known_required_keys() -> None:
    bad = []
    for key, schema in DEFS.items():
        for path, node in _walk(schema, key):
            if "properties" in node:
                if not node.get("title"):
                    bad.append(f"{path}: object with properties but no title")
                unknown = set(node.get("required", [])) - set(node["properties"])
                if unknown:
                    bad.append(f"{path}: required but not declared {sorted(unknown)}")
    assert not bad


def _kind(member: dict[str, Any]) -> str:
    """string / object / array / number / boolean / null for one union member."""
    target = DEFS[member["$ref"].removeprefix(REF)] if "$ref" in member else member
    if "oneOf" in target:
        return "union"
    t = target.get("type")
    if t is None and "enum" in target:
        t = "string"
    return t if isinstance(t, str) else "mixed"


def _is_tagged(member: dict[str, Any], field: str = "type") -> bool:
    target = DEFS[member["$ref"].removeprefix(REF)] if "$ref" in member else member
    tag = target.get("properties", {}).get(field, {})
    return "const" in tag and field in target.get("required", [])


def test_unions_can_be_told_apart_by_a_decoder() -> None:
    bad = []
    for key, schema in DEFS.items():
        for path, node in _walk(schema, key):
            members = node.get("oneOf") or node.get("anyOf")
            if not members:
                continue
            members = [m for m in members if m.get("type") != "null"]
            if len(members) < 2:
                continue  # a nullable wrapper around one schema
            field = "method" if key in UNIONS else "type"
            kinds = [_kind(m) for m in members]
            if "union" in kinds or "mixed" in kinds:
                bad.append(f"{path}: nested or mixed union member")
            objects = [m for m, k in zip(members, kinds, strict=True) if k == "object"]
            if len(objects) > 1 and not all(_is_tagged(m, field) for m in objects):
                bad.append(f"{path}: several untagged object members")
            for scalar in ("string", "array", "integer", "boolean"):
                if kinds.count(scalar) > 1:
                    bad.append(f"{path}: several {scalar} members")
    assert not bad


def test_tagged_variants_carry_distinct_type_consts() -> None:
    bad = []
    for key, schema in DEFS.items():
        members = schema.get("oneOf", [])
        tags = [
            DEFS[m["$ref"].removeprefix(REF)]["properties"]["type"]["const"]
            for m in members
            if "$ref" in m and _is_tagged(m)
        ]
        if len(tags) != len(set(tags)):
            bad.append(key)
    assert not bad


def test_externally_tagged_objects_allow_exactly_one_optional_key() -> None:
    for name in (
        "CodexErrorInfoDetail",
        "SessionSourceDetail",
        "SubAgentSourceDetail",
        "CommandExecutionApprovalDecisionDetail",
        "GranularAskForApproval",
    ):
        schema = DEFS[name]
        assert schema["minProperties"] == 1 and schema["maxProperties"] == 1, name
        assert "required" not in schema, name


# ---------------------------------------------------------------------------------------------------------------
# Method unions


def _methods(union: str) -> list[str]:
    return [v["properties"]["method"]["const"] for v in DEFS[union]["oneOf"]]


def test_method_unions_have_the_contributing_shape() -> None:
    for union in UNIONS:
        for variant in DEFS[union]["oneOf"]:
            props = variant["properties"]
            is_request = union.endswith("Request")
            assert variant["type"] == "object"
            assert variant["title"].endswith(
                "Request" if is_request else ("Notification" if union == "ClientNotification" else "Message")
            )
            if is_request:
                assert variant["required"] == ["id", "method", "params"]
                assert props["id"] == {"$ref": REF + "RequestId"}
                assert props["params"]["$ref"].endswith("Params")
                assert variant["x-response"]["$ref"].startswith(REF)
            else:
                assert "id" not in props and "x-response" not in variant
            assert set(variant) <= {"title", "type", "required", "properties", "x-response", "x-experimental"}
        methods = _methods(union)
        assert len(methods) == len(set(methods)), union


def test_the_core_methods_are_all_present() -> None:
    assert set(_methods("ClientRequest")) >= {
        "initialize",
        "thread/start",
        "thread/resume",
        "thread/fork",
        "thread/list",
        "thread/read",
        "thread/loaded/list",
        "thread/archive",
        "thread/unarchive",
        "thread/name/set",
        "thread/unsubscribe",
        "thread/revert",
        "thread/turns/list",
        "thread/items/list",
        "thread/compact/start",
        "turn/start",
        "turn/steer",
        "turn/interrupt",
        "model/list",
        "experimentalFeature/list",
        "config/read",
        "metrics/read",
    }
    assert _methods("ClientNotification") == ["initialized"]
    assert set(_methods("ServerRequest")) == {
        "item/commandExecution/requestApproval",
        "item/fileChange/requestApproval",
        "item/tool/call",
    }
    assert set(_methods("ServerNotification")) >= {
        "error",
        "thread/started",
        "thread/status/changed",
        "thread/closed",
        "thread/archived",
        "thread/unarchived",
        "thread/name/updated",
        "thread/tokenUsage/updated",
        "thread/compacted",
        "thread/reverted",
        "turn/started",
        "turn/completed",
        "item/started",
        "item/completed",
        "item/agentMessage/delta",
        "item/reasoning/summaryTextDelta",
        "item/reasoning/summaryPartAdded",
        "item/reasoning/textDelta",
        "warning",
        "configWarning",
        "deprecationNotice",
        "serverRequest/resolved",
        "thread/compaction/applied",
    }


def test_experimental_markers_sit_where_the_daemon_reads_them() -> None:
    experimental = {
        v["properties"]["method"]["const"] for v in DEFS["ClientRequest"]["oneOf"] if v.get("x-experimental")
    }
    assert experimental == {"metrics/read"}
    start = DEFS["ThreadStartParams"]["properties"]
    assert {k for k, v in start.items() if v.get("x-experimental")} == {
        "dynamicTools",
        "experimentalRawEvents",
        "historyMode",
    }
    assert DEFS["ThreadResumeParams"]["properties"]["initialTurnsPage"]["x-experimental"] is True
    granular = [m for m in DEFS["AskForApproval"]["oneOf"] if m.get("$ref") == REF + "GranularAskForApproval"]
    assert granular[0]["x-experimental"] is True
    for key, schema in DEFS.items():
        for name, prop in schema.get("properties", {}).items():
            if prop.get("x-experimental"):
                assert name not in schema.get("required", []), f"{key}.{name} is experimental and required"


# ---------------------------------------------------------------------------------------------------------------
# Real-shaped messages

THREAD_ID = "01a211e5-92d3-7cd1-8a7a-12aa33e55c8f"
TURN_ID = "01a211e6-0000-7000-8000-000000000001"

# A thread exactly as the real server serializes it (extra experimental keys included).
REAL_THREAD: dict[str, Any] = {
    "id": THREAD_ID,
    "environments": [{"environmentId": "local", "cwd": "/work", "runtimeWorkspaceRoots": ["/work"]}],
    "extra": None,
    "sessionId": THREAD_ID,
    "forkedFromId": None,
    "parentThreadId": None,
    "preview": "",
    "ephemeral": False,
    "section": None,
    "sectionEnteredAt": None,
    "projectId": None,
    "historyMode": "paginated",
    "modelProvider": "openai",
    "model": "gpt-6.1-sol",
    "reasoningEffort": None,
    "createdAt": 1795596587,
    "updatedAt": 1795596587,
    "recencyAt": 1795596587,
    "status": {"type": "idle"},
    "path": "/home/u/.threadline/sessions/rollout.jsonl",
    "cwd": "/work",
    "cliVersion": "0.163.0",
    "originator": "codex_python_sdk",
    "source": "vscode",
    "canAcceptDirectInput": True,
    "threadSource": None,
    "agentNickname": None,
    "agentRole": None,
    "gitInfo": None,
    "name": None,
    "daybreakEnabled": None,
    "turns": [],
}

REAL_START_RESULT: dict[str, Any] = {
    "thread": REAL_THREAD,
    "model": "gpt-6.1-sol",
    "modelProvider": "openai",
    "serviceTier": None,
    "disabledPluginIds": [],
    "cwd": "/work",
    "runtimeWorkspaceRoots": ["/work"],
    "instructionSources": [],
    "approvalPolicy": "on-request",
    "approvalsReviewer": "auto_review",
    "sandbox": {"type": "readOnly", "networkAccess": False},
    "activePermissionProfile": {"id": ":read-only", "extends": None},
    "reasoningEffort": None,
    "multiAgentMode": "explicitRequestOnly",
}


def _turn(status: str, **over: Any) -> dict[str, Any]:
    turn = {
        "id": TURN_ID,
        "rootTurnId": TURN_ID,
        "items": [],
        "itemsView": "notLoaded",
        "status": status,
        "error": None,
        "startedAt": 1795480528,
        "completedAt": None,
        "durationMs": None,
    }
    turn.update(over)
    return turn


SDK_CLIENT_MESSAGES = [
    (
        "ClientRequest",
        {
            "id": "9b1c",
            "method": "initialize",
            "params": {
                "clientInfo": {"name": "codex_python_sdk", "title": "Codex Python SDK", "version": "0.163.0"},
                "capabilities": {"experimentalApi": True},
            },
        },
    ),
    ("ClientNotification", {"method": "initialized"}),
    (
        "ClientRequest",
        {
            "id": "9b1d",
            "method": "thread/start",
            "params": {"approvalPolicy": "on-request", "approvalsReviewer": "auto_review"},
        },
    ),
    (
        "ClientRequest",
        {"id": 3, "method": "turn/start", "params": {"input": [{"type": "text", "text": "hi"}], "threadId": THREAD_ID}},
    ),
    (
        "ClientRequest",
        {
            "id": 4,
            "method": "turn/steer",
            "params": {
                "threadId": THREAD_ID,
                "expectedTurnId": TURN_ID,
                "input": [{"type": "image", "url": "data:image/png;base64,AA"}],
            },
        },
    ),
    (
        "ClientRequest",
        {
            "id": 5,
            "method": "thread/items/list",
            "params": {"threadId": THREAD_ID, "turnId": TURN_ID, "cursor": {"type": "item", "itemId": "i1"}},
        },
    ),
    (
        "ClientRequest",
        {"id": 6, "method": "thread/list", "params": {"cwd": ["/a", "/b"], "sourceKinds": ["appServer"]}},
    ),
    (
        "ClientRequest",
        {
            "id": 7,
            "method": "thread/start",
            "params": {
                "approvalPolicy": {"granular": {"sandbox_approval": True, "rules": False, "mcp_elicitations": False}},
                "sandbox": "workspace-write",
                "dynamicTools": [
                    {"type": "function", "name": "lookup", "description": "Look up", "inputSchema": {"type": "object"}},
                    {
                        "type": "namespace",
                        "name": "crm",
                        "description": "CRM",
                        "tools": [
                            {
                                "type": "function",
                                "name": "find",
                                "description": "Find",
                                "inputSchema": {},
                                "deferLoading": True,
                            }
                        ],
                    },
                ],
            },
        },
    ),
    ("ClientRequest", {"id": 8, "method": "metrics/read", "params": {}}),
]

SERVER_MESSAGES = [
    (
        "ServerNotification",
        {"method": "thread/started", "params": {"thread": REAL_THREAD}, "emittedAtMs": 1795596587780},
    ),
    (
        "ServerNotification",
        {
            "method": "thread/status/changed",
            "params": {"threadId": THREAD_ID, "status": {"type": "active", "activeFlags": []}},
        },
    ),
    ("ServerNotification", {"method": "turn/started", "params": {"threadId": THREAD_ID, "turn": _turn("inProgress")}}),
    (
        "ServerNotification",
        {
            "method": "item/started",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "startedAtMs": 1795480528001,
                "item": {
                    "type": "userMessage",
                    "id": "u1",
                    "clientId": None,
                    "content": [{"type": "text", "text": "hi", "text_elements": []}],
                },
            },
        },
    ),
    (
        "ServerNotification",
        {
            "method": "item/agentMessage/delta",
            "params": {"threadId": THREAD_ID, "turnId": TURN_ID, "itemId": "m1", "delta": "Hel"},
        },
    ),
    (
        "ServerNotification",
        {
            "method": "item/completed",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "completedAtMs": 1795480529000,
                "item": {
                    "type": "agentMessage",
                    "id": "m1",
                    "text": "Hello",
                    "phase": "final_answer",
                    "delivery": None,
                    "memoryCitation": None,
                    "questions": None,
                },
            },
        },
    ),
    (
        "ServerNotification",
        {
            "method": "thread/tokenUsage/updated",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "tokenUsage": {
                    "total": {
                        "totalTokens": 30,
                        "inputTokens": 20,
                        "cachedInputTokens": 0,
                        "outputTokens": 10,
                        "reasoningOutputTokens": 0,
                    },
                    "last": {
                        "totalTokens": 30,
                        "inputTokens": 20,
                        "cachedInputTokens": 0,
                        "outputTokens": 10,
                        "reasoningOutputTokens": 0,
                        "cacheWriteInputTokens": 0,
                    },
                    "modelContextWindow": 272000,
                },
            },
        },
    ),
    (
        "ServerNotification",
        {
            "method": "error",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "willRetry": True,
                "error": {
                    "message": "Reconnecting... 2/5",
                    "additionalDetails": "stream closed",
                    "misalignment": None,
                    "codexErrorInfo": {"responseStreamDisconnected": {"httpStatusCode": None}},
                },
            },
        },
    ),
    (
        "ServerNotification",
        {
            "method": "turn/completed",
            "params": {
                "threadId": THREAD_ID,
                "turn": _turn(
                    "failed",
                    completedAt=1795480537,
                    durationMs=9004,
                    error={
                        "message": "context window exceeded",
                        "codexErrorInfo": "contextWindowExceeded",
                        "additionalDetails": None,
                        "misalignment": None,
                    },
                ),
            },
        },
    ),
    (
        "ServerNotification",
        {
            "method": "thread/compaction/applied",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "itemId": "c1",
                "mode": "remote",
                "trigger": "auto",
                "tokensBefore": 250000,
                "tokensAfter": 12000,
                "itemsReplaced": 140,
                "itemsKept": 3,
            },
        },
    ),
    ("ServerNotification", {"method": "configWarning", "params": {"summary": "bad key", "details": None}}),
    (
        "ServerRequest",
        {
            "id": 0,
            "method": "item/commandExecution/requestApproval",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "itemId": "c2",
                "startedAtMs": 1795480530000,
                "command": "ls",
                "cwd": "/work",
                "commandActions": [{"type": "listFiles", "command": "ls", "path": None}],
                "reason": None,
            },
        },
    ),
    (
        "ServerRequest",
        {
            "id": 1,
            "method": "item/tool/call",
            "params": {
                "threadId": THREAD_ID,
                "turnId": TURN_ID,
                "callId": "call_1",
                "tool": "lookup",
                "namespace": None,
                "arguments": {"q": 1},
            },
        },
    ),
]

RESULTS = [
    (
        "initialize",
        {
            "userAgent": "threadline/0.163.0 (Debian 12; x86_64) xterm (codex_python_sdk; 0.163.0)",
            "codexHome": "/home/u/.threadline",
            "platformFamily": "unix",
            "platformOs": "linux",
            "serverInfo": {"name": "threadline", "version": "0.1.0"},
        },
    ),
    ("thread/start", REAL_START_RESULT),
    ("turn/start", {"turn": _turn("inProgress", startedAt=None)}),
    ("turn/steer", {"turnId": TURN_ID}),
    ("turn/interrupt", {}),
    ("thread/unsubscribe", {"status": "notSubscribed"}),
    ("thread/loaded/list", {"data": [], "nextCursor": None}),
    (
        "thread/list",
        {"data": [REAL_THREAD | {"status": {"type": "notLoaded"}}], "nextCursor": None, "backwardsCursor": None},
    ),
    (
        "experimentalFeature/list",
        {
            "data": [
                {
                    "name": "daemon_auto_start",
                    "stage": "stable",
                    "displayName": None,
                    "description": None,
                    "announcement": None,
                    "enabled": True,
                    "defaultEnabled": True,
                }
            ],
            "nextCursor": "1",
        },
    ),
    ("metrics/read", {"counters": [{"name": "compaction.applied", "attributes": {"mode": "remote"}, "value": 2}]}),
    (
        "config/read",
        {
            "config": {
                "model": None,
                "model_provider": "openai",
                "approval_policy": "never",
                "profiles": {},
                "project_doc_max_bytes": 32768,
            },
            "origins": {"model_provider": {"name": {"type": "user", "file": "/h/config.toml"}, "version": "sha:1"}},
        },
    ),
]


@pytest.mark.parametrize(
    ("union", "message"),
    SDK_CLIENT_MESSAGES + SERVER_MESSAGES,
    ids=lambda v: v if isinstance(v, str) else v.get("method"),
)
def test_real_shaped_messages_validate_against_their_union(union: str, message: dict[str, Any]) -> None:
    assert _errors(union, message) == []


@pytest.mark.parametrize(("method", "result"), RESULTS, ids=lambda v: v if isinstance(v, str) else "")
def test_real_shaped_results_validate_against_x_response(method: str, result: dict[str, Any]) -> None:
    assert _errors(_response_type(method), result) == []


OBSERVED = Path(__file__).parent / "fixtures" / "codex-0.163.0-observed.jsonl"


def _observed() -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in OBSERVED.read_bytes().splitlines() if line.strip()]


def _observed_id(record: dict[str, Any]) -> str:
    if record["kind"] == "response":
        return f"result:{record['method']}"
    message = record["message"]
    item = (
        (message.get("params") or {}).get("item", {}).get("type") if isinstance(message.get("params"), dict) else None
    )
    return f"{message.get('method')}{':' + item if item else ''}"


@pytest.mark.parametrize("record", _observed(), ids=_observed_id)
def test_messages_observed_from_the_real_codex_binary_validate(record: dict[str, Any]) -> None:
    """Recorded from codex 0.163.0 app-server driven offline against a scripted local model: one message of each
    kind (client requests it accepted, its results, notifications and server requests, every item type seen)."""
    if record["kind"] == "response":
        assert _errors(_response_type(record["method"]), record["result"]) == []
        return
    message = record["message"]
    sender = "Server" if record["from"] == "server" else "Client"
    union = sender + ("Request" if "id" in message else "Notification")
    assert _errors(union, message) == []


def test_a_thread_missing_a_null_key_is_rejected() -> None:
    thread = copy.deepcopy(REAL_THREAD)
    del thread["forkedFromId"]
    assert any("forkedFromId" in e for e in _errors("Thread", thread))


def test_a_turn_missing_a_null_key_is_rejected() -> None:
    turn = _turn("completed")
    del turn["durationMs"]
    assert _errors("Turn", turn)


@pytest.mark.parametrize(
    "bad",
    [
        {"httpConnectionFailed": {"httpStatusCode": 502}, "activeTurnNotSteerable": {"turnKind": "review"}},
        {},
        "notAKnownCategory",
    ],
)
def test_codex_error_info_rejects_malformed_values(bad: Any) -> None:
    assert _errors("CodexErrorInfo", bad)


def test_a_notification_for_an_unknown_method_is_rejected() -> None:
    assert _errors("ServerNotification", {"method": "thread/bogus", "params": {}})


def test_the_error_envelope_allows_a_null_id_for_parse_errors() -> None:
    assert _errors("JSONRPCError", {"id": None, "error": {"code": -32700, "message": "Parse error"}}) == []
