"""Generated code from the fixture schema decodes and encodes the wire as the schema says (our generator's contract)."""

from __future__ import annotations

import typing
from types import ModuleType

import msgspec
import pytest
from msgspec import UNSET

enc = msgspec.json.encode


def dec(data: bytes | str, type_: typing.Any) -> typing.Any:
    return msgspec.json.decode(data, type=type_)


def test_camel_case_wire_names_become_snake_case_attributes_and_round_trip(types_: ModuleType) -> None:
    wire = b'{"threadId":"t1","itemId":"i1","delta":"Hel"}'
    params = dec(wire, types_.AgentMessageDeltaParams)
    assert (params.thread_id, params.item_id, params.delta) == ("t1", "i1", "Hel")
    assert enc(params) == wire


def test_absent_optional_field_is_unset_and_never_encoded(types_: ModuleType) -> None:
    params = dec(b'{"cwd":"/w"}', types_.ThreadStartParams)
    assert params.model is UNSET
    assert b'"model"' not in enc(params)


def test_explicit_null_stays_distinct_from_absent(types_: ModuleType) -> None:
    params = dec(b'{"model":null}', types_.ThreadStartParams)
    assert params.model is None
    assert b'"model":null' in enc(params)


def test_schema_defaults_fill_absent_fields_with_fresh_containers(types_: ModuleType) -> None:
    a, b = types_.ThreadStartParams(), types_.ThreadStartParams()
    assert (a.approval_policy, a.ephemeral, a.tags) == ("on-request", False, [])
    assert a.tags is not b.tags
    assert dec(b'{"id":"r"}', types_.ReasoningItem).summary == []


def test_required_field_missing_is_a_validation_error(types_: ModuleType) -> None:
    with pytest.raises(msgspec.ValidationError, match="delta"):
        dec(b'{"threadId":"t","itemId":"i"}', types_.AgentMessageDeltaParams)


def test_structs_are_keyword_only(types_: ModuleType) -> None:
    with pytest.raises(TypeError):
        types_.ThreadForkParams("t1")


def test_tagged_union_decodes_by_type_and_encodes_the_tag(types_: ModuleType) -> None:
    wire = (
        b'[{"type":"agentMessage","id":"a","text":"hi"},{"type":"reasoning","id":"r","summary":["s"]},'
        b'{"type":"commandExecution","id":"c","command":"ls","status":"completed","exitCode":null,"env":{}}]'
    )
    items = dec(wire, list[types_.ThreadItem])
    assert [type(i).__name__ for i in items] == ["AgentMessageItem", "ReasoningItem", "CommandExecutionItem"]
    assert not hasattr(items[0], "type")
    assert enc(items) == wire


def test_tagged_union_rejects_an_unknown_tag(types_: ModuleType) -> None:
    with pytest.raises(msgspec.ValidationError, match="type"):
        dec(b'{"type":"nope","id":"x"}', types_.ThreadItem)


@pytest.mark.parametrize(
    "wire",
    [
        b'"contextWindowExceeded"',
        b'{"httpConnectionFailed":{"httpStatusCode":502}}',
        b'{"responseStreamDisconnected":{}}',
    ],
)
def test_externally_tagged_union_round_trips_string_and_single_key_object(types_: ModuleType, wire: bytes) -> None:
    value = dec(wire, types_.CodexErrorInfo)
    assert enc(value) == wire


def test_externally_tagged_union_object_form_is_the_details_struct(types_: ModuleType) -> None:
    value = dec(b'{"httpConnectionFailed":{"httpStatusCode":502}}', types_.CodexErrorInfo)
    assert isinstance(value, types_.CodexErrorInfoDetails)
    assert value.http_connection_failed.http_status_code == 502
    assert value.response_stream_disconnected is UNSET
    error = dec(b'{"message":"boom","codexErrorInfo":"usageLimitExceeded"}', types_.TurnError)
    assert error.codex_error_info == "usageLimitExceeded"


def test_string_enum_is_a_literal_alias_and_rejects_other_values(types_: ModuleType) -> None:
    assert typing.get_args(types_.AskForApproval) == ("untrusted", "on-failure", "on-request", "never")
    with pytest.raises(msgspec.ValidationError):
        dec(b'"sometimes"', types_.AskForApproval)
    with pytest.raises(msgspec.ValidationError):
        dec(b'"sometimes"', types_.CodexErrorInfo)


def test_python_keyword_property_gets_a_trailing_underscore(types_: ModuleType) -> None:
    thread = dec(b'{"id":"t","createdAt":1,"items":[],"from":"cli"}', types_.Thread)
    assert thread.from_ == "cli"
    assert b'"from":"cli"' in enc(thread)


def test_titled_inline_object_becomes_its_own_class(types_: ModuleType) -> None:
    thread = dec(b'{"id":"t","createdAt":1,"items":[],"stats":{"turns":2}}', types_.Thread)
    assert isinstance(thread.stats, types_.ThreadStats)
    assert thread.stats.last_turn_id is UNSET


def test_unknown_keys_are_ignored_unless_additional_properties_is_false(types_: ModuleType) -> None:
    thread = dec(b'{"id":"t","createdAt":1,"items":[],"future":true}', types_.Thread)
    assert thread.id == "t"
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        dec(b'{"threadId":"t","input":[],"future":true}', types_.TurnStartParams)


def test_free_form_values_and_maps_keep_any_json(types_: ModuleType) -> None:
    wire = b'{"id":"t","createdAt":1,"items":[],"metadata":{"a":[1,{"b":null}]},"extra":[true]}'
    thread = dec(wire, types_.Thread)
    assert thread.metadata == {"a": [1, {"b": None}]} and thread.extra == [True]
    item = dec(
        b'{"type":"commandExecution","id":"c","command":"ls","status":"failed","exitCode":1,"env":{"A":"1"}}',
        types_.CommandExecutionItem,
    )
    assert item.env == {"A": "1"}
    with pytest.raises(msgspec.ValidationError):
        dec(
            b'{"type":"commandExecution","id":"c","command":"ls","status":"failed","exitCode":1,"env":{"A":1}}',
            types_.CommandExecutionItem,
        )


def test_integer_minimum_becomes_a_msgspec_constraint(types_: ModuleType) -> None:
    with pytest.raises(msgspec.ValidationError, match=">= 0"):
        dec(b'{"inputTokens":-1,"outputTokens":0}', types_.TokenUsage)


def test_union_aliases_and_request_id_accept_each_member(types_: ModuleType) -> None:
    assert dec(b"7", types_.RequestId) == 7
    assert dec(b'"7"', types_.RequestId) == "7"
    assert dec(b'[{"type":"text","text":"hi"},{"type":"image","url":"u"}]', list[types_.UserInput])


def test_all_lists_every_public_name_sorted(types_: ModuleType, methods: ModuleType) -> None:
    public = {
        n
        for n, v in vars(types_).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == types_.__name__
    }
    assert public <= set(types_.__all__)
    assert list(types_.__all__) == sorted(types_.__all__)
    assert {"ClientMethod", "CLIENT_REQUESTS", "SERVER_NOTIFICATIONS"} <= set(methods.__all__)
