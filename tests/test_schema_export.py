"""``generate-json-schema`` writes Codex's layout, self-contained files, stable without experimental parts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import msgspec
import referencing
import referencing.jsonschema


def _generate(out: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "server", *args, "--out", str(out)], check=True, timeout=60,
                   capture_output=True)


def _load(path: Path) -> dict:
    return msgspec.json.decode(path.read_bytes())


def test_the_bundle_has_codex_layout_and_every_file_stands_alone(tmp_path: Path) -> None:
    _generate(tmp_path, "app-server", "generate-json-schema", "--experimental")
    for top in ("ClientRequest.json", "ClientNotification.json", "ServerRequest.json", "ServerNotification.json"):
        assert (tmp_path / top).is_file()
    for name in ("TurnStartParams", "ThreadResumeParams", "ThreadForkParams", "ThreadStartResponse",
                 "DynamicToolCallParams", "ThreadCompactionAppliedNotification"):
        assert (tmp_path / "v2" / f"{name}.json").is_file(), name
    for path in [*tmp_path.glob("*.json"), *tmp_path.glob("v2/*.json")]:
        doc = _load(path)
        jsonschema.Draft202012Validator.check_schema(doc)
        resource = referencing.Resource.from_contents(doc, default_specification=referencing.jsonschema.DRAFT202012)
        resolver = referencing.Registry().with_resource("urn:doc", resource).resolver("urn:doc")
        for ref in _refs(doc):
            resolver.lookup(ref)  # raises when a $ref points outside the file


def test_the_sdk_sees_the_optional_turn_fields_it_probes_for(tmp_path: Path) -> None:
    _generate(tmp_path, "generate-json-schema", "--experimental")
    turn = _load(tmp_path / "v2" / "TurnStartParams.json")["properties"]
    assert {"toolOutput", "turnTrigger", "serviceTierForTurn"} <= turn.keys()
    assert "excludeTurns" in _load(tmp_path / "v2" / "ThreadResumeParams.json")["properties"]


def test_the_stable_bundle_leaves_experimental_methods_and_fields_out(tmp_path: Path) -> None:
    stable, experimental = tmp_path / "stable", tmp_path / "exp"
    _generate(stable, "generate-json-schema")
    _generate(experimental, "generate-json-schema", "--experimental")
    assert "dynamicTools" not in _load(stable / "v2" / "ThreadStartParams.json")["properties"]
    assert "dynamicTools" in _load(experimental / "v2" / "ThreadStartParams.json")["properties"]
    methods = {v["properties"]["method"]["const"] for v in _load(stable / "ClientRequest.json")["oneOf"]}
    assert "thread/start" in methods and "metrics/read" not in methods


def test_json_logs_are_one_object_per_line_on_stderr(tmp_path: Path) -> None:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path), "LOG_FORMAT": "json", "THREADLINE_LOG": "info"}
    done = subprocess.run([sys.executable, "-m", "server", "app-server"], env=env, capture_output=True, timeout=60,
                          input=b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}\n')
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(isinstance(msgspec.json.decode(line), dict) for line in lines)
    assert any(msgspec.json.decode(line)["level"] == "info" for line in lines)
    assert [msgspec.json.decode(line)["id"] for line in done.stdout.splitlines()] == [1]


def _refs(node: object) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for value in node.values():
            out.extend(_refs(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_refs(value))
    return out
