"""The generator refuses schemas it cannot turn into importable, unambiguous code, naming the schema path (our choice)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import write_schema

OBJ_A = {"type": "object", "properties": {"a": {"type": "string"}}}
OBJ_B = {"type": "object", "properties": {"b": {"type": "string"}}}
TAGGED_X = {"type": "object", "required": ["type"], "properties": {"type": {"const": "x"}}}
TAGGED_Y = {"type": "object", "required": ["type"], "properties": {"type": {"const": "y"}}}
KIND = {"type": "string", "enum": ["one", "two"]}


def run(gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, Any]) -> str:
    """Generate from ``files``; assert it failed without writing anything; return stderr."""
    schema_dir = write_schema(tmp_path / "schema", files)
    out_dir = tmp_path / "out"
    assert gen.main(["--schema-dir", str(schema_dir), "--out-dir", str(out_dir)]) == 2
    assert not out_dir.exists()
    return capsys.readouterr().err


def with_bar(bar: dict[str, Any], **defs: Any) -> dict[str, Any]:
    return {"a.json": {"Foo": {"type": "object", "properties": {"bar": bar}}, **defs}}


REF = {name: {"$ref": f"#/$defs/{name}"} for name in ("A", "B", "X", "X2", "Y", "Kind", "Map")}


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        ({"oneOf": [REF["A"], REF["B"]]}, "union has two untagged object members (A, B)"),
        ({"anyOf": [REF["A"], REF["B"], {"type": "null"}]}, "union has two untagged object members (A, B)"),
        ({"oneOf": [REF["X"], REF["A"]]}, "union has tagged and untagged object members (X, A)"),
        ({"oneOf": [REF["A"], REF["Map"]]}, "union has two untagged object members (A, Map)"),
        (
            {"oneOf": [REF["A"], {"type": "object", "additionalProperties": True}]},
            "union has two untagged object members (A, dict[str, Any])",
        ),
        ({"oneOf": [REF["Map"], {"type": "object"}]}, "union has two untagged object members (Map, dict[str, Any])"),
        ({"oneOf": [REF["Kind"], {"type": "string"}]}, "union has two string members (str, Kind)"),
        ({"type": ["string", "integer"], "enum": ["a", 1]}, None),  # a mixed Literal is one member: fine
        ({"oneOf": [{"type": "array", "items": REF["A"]}, {"type": "array"}]}, "union has two array members"),
        ({"oneOf": [REF["X"], REF["X2"]]}, "union has two members tagged 'x' (X, X2)"),
        ({"oneOf": [{}, {"type": "string"}]}, "union has a free-form {} member next to other members"),
        ({"oneOf": [REF["Kind"], {"const": "two"}]}, "union has the value 'two' in two members"),
    ],
)
def test_illegal_union_is_reported_with_file_and_schema_path(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], bar: dict[str, Any], message: str | None
) -> None:
    defs = {"A": OBJ_A, "B": OBJ_B, "X": TAGGED_X, "X2": TAGGED_X, "Y": TAGGED_Y, "Kind": KIND}
    defs["Map"] = {"type": "object", "additionalProperties": {"type": "string"}}
    files = with_bar(bar, **defs)
    if message is None:
        schema_dir = write_schema(tmp_path / "schema", files)
        assert gen.main(["--schema-dir", str(schema_dir), "--out-dir", str(tmp_path / "out")]) == 0
        return
    err = run(gen, tmp_path, capsys, files)
    assert f"a.json: $defs/Foo/properties/bar: {message}" in err


def test_illegal_union_definition_is_reported_at_the_definition(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, {"u.json": {"A": OBJ_A, "B": OBJ_B, "U": {"oneOf": [REF["A"], REF["B"]]}}})
    assert "u.json: $defs/U: union has two untagged object members (A, B)" in err


def test_union_through_an_alias_is_checked_member_by_member(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = with_bar({"oneOf": [{"$ref": "#/$defs/AOrKind"}, REF["B"]]}, A=OBJ_A, B=OBJ_B, Kind=KIND)
    files["a.json"]["AOrKind"] = {"oneOf": [REF["A"], REF["Kind"]]}
    err = run(gen, tmp_path, capsys, files)
    assert "$defs/Foo/properties/bar: union has two untagged object members (AOrKind, B)" in err


def test_string_enum_plus_one_object_is_accepted_as_an_external_union(gen: ModuleType, tmp_path: Path) -> None:
    schema_dir = write_schema(tmp_path / "schema", with_bar({"oneOf": [KIND, REF["A"]]}, A=OBJ_A))
    assert gen.main(["--schema-dir", str(schema_dir), "--out-dir", str(tmp_path / "out")]) == 0


def test_inline_object_without_title_is_an_error_with_its_path(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, with_bar({"type": "array", "items": {"type": "object", "properties": {}}}))
    assert 'a.json: $defs/Foo/properties/bar/items: inline object with properties needs a "title"' in err


def test_inline_title_clashing_with_a_definition_is_an_error_not_a_suffix(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, with_bar({"title": "A", **OBJ_B}, A=OBJ_A))
    assert "a.json: $defs/Foo/properties/bar: inline object title 'A' clashes with" in err
    assert "a.json: $defs/A" in err


def test_two_inline_objects_with_one_title_clash(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = {"title": "Same", **OBJ_A}
    foo = {"type": "object", "properties": {"p": inline, "q": {"type": "array", "items": inline}}}
    err = run(gen, tmp_path, capsys, {"a.json": {"Foo": foo}})
    assert "$defs/Foo/properties/q/items: inline object title 'Same' clashes with " in err
    assert err.rstrip().splitlines()[0].endswith("a.json: $defs/Foo/properties/p")


def test_definition_in_two_files_is_an_error_naming_both(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, {"a.json": {"A": OBJ_A}, "b.json": {"A": OBJ_B}})
    assert "A is defined in both" in err and "a.json and" in err and "b.json" in err


def test_title_must_equal_the_definition_key(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, {"a.json": {"A": {**OBJ_A, "title": "Other"}}})
    assert "a.json: $defs/A: title 'Other' must equal the definition's key 'A'" in err


def test_unresolved_ref_is_an_error(gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run(gen, tmp_path, capsys, with_bar({"$ref": "#/$defs/Missing"}))
    assert "a.json: $defs/Foo/properties/bar: $ref '#/$defs/Missing' does not resolve" in err


def test_file_that_is_not_a_valid_json_schema_is_rejected(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, with_bar({"type": 5}))
    assert "a.json: $defs/Foo/properties/bar/type: not a valid draft 2020-12 schema" in err


def test_recursive_alias_is_an_error(gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Loop"}}]}
    err = run(gen, tmp_path, capsys, {"a.json": {"Loop": loop}})
    assert "a.json: $defs/Loop: alias Loop depends on itself" in err


def test_properties_with_one_python_name_clash(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foo = {"type": "object", "properties": {"threadId": {"type": "string"}, "thread_id": {"type": "string"}}}
    err = run(gen, tmp_path, capsys, {"a.json": {"Foo": foo}})
    assert (
        "$defs/Foo/properties/thread_id: Python name 'thread_id' of 'thread_id' clashes with property 'threadId'" in err
    )


def test_method_constant_clash_is_an_error(gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def variant(method: str) -> dict[str, Any]:
        return {"type": "object", "properties": {"method": {"const": method}}}

    union = {"oneOf": [variant("thread/start"), variant("threadStart")]}
    err = run(gen, tmp_path, capsys, {"methods.json": {"ClientNotification": union}})
    assert (
        "methods.json: $defs/ClientNotification/oneOf/1: constant ClientNotificationMethod.THREAD_START would name "
        "both 'thread/start' and 'threadStart'"
    ) in err


def test_request_variant_needs_an_id_and_an_x_response(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    union = {"oneOf": [{"type": "object", "properties": {"method": {"const": "a/b"}}}]}
    err = run(gen, tmp_path, capsys, {"methods.json": {"ClientRequest": union}})
    assert "$defs/ClientRequest/oneOf/0: request 'a/b' has no id property" in err
    assert "$defs/ClientRequest/oneOf/0: request 'a/b' has no x-response" in err


def test_every_problem_is_reported_in_one_run(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(gen, tmp_path, capsys, {"a.json": {"A": {**OBJ_A, "title": "Z"}, "B": {"$ref": "#/$defs/Nope"}}})
    assert "title 'Z'" in err and "'#/$defs/Nope' does not resolve" in err and "2 problem(s)" in err


def test_dry_run_import_reports_a_type_msgspec_rejects_with_its_origin(gen: ModuleType) -> None:
    """The safety net behind the union checks: generated text is imported and decoded in memory before writing."""
    from codegen.ir import AliasDef, Named, Origin, Protocol, UnionT
    from codegen.verify import verify

    source = (
        "from __future__ import annotations\nimport msgspec\n"
        "class A(msgspec.Struct):\n    a: int\n"
        "class B(msgspec.Struct):\n    b: int\n"
        "Bad = A | B\n"
    )
    bad = AliasDef("Bad", None, UnionT((Named("A"), Named("B"))), Origin("schema/x.json", "$defs/Bad"))
    problems = verify(Protocol(structs={}, aliases={"Bad": bad}, groups=()), source, "")
    assert len(problems) == 1 and problems[0].startswith("schema/x.json: $defs/Bad: msgspec rejects the generated Bad")
