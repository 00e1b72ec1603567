"""The in-memory harness: the real app graph on memory streams, driven by the real typed client.

Every message the server sends is validated against ``schema/`` (through the generated bundle): notifications
and server requests against their unions, results against the method's ``x-response`` type, errors against
the error envelope. A violation fails the test when the harness exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec

from protocol.client import AppServerClient
from protocol.schema import schema_bundle, validator_for
from server.app import serve
from server.config import Settings
from server.transport.memory import MemoryClientEnd, memory_transport

__all__ = ["Harness", "SchemaWitness", "running_server"]


def _types(union: str, key: str) -> dict[str, str]:
    """Method → type name of its params (``key="params"``) or result (``key="x-response"``) in ``union``."""
    out: dict[str, str] = {}
    for variant in schema_bundle()["$defs"][union]["oneOf"]:
        method = variant["properties"]["method"]["const"]
        node = variant.get("x-response", {}) if key == "x-response" else variant["properties"].get("params", {})
        ref = node.get("$ref", "")
        if ref:
            out[method] = ref.rsplit("/", 1)[-1]
    return out


def _response_types() -> dict[str, str]:
    return _types("ClientRequest", "x-response")


def _message_types() -> dict[str, str]:
    # Validating params against the method's own type is what the union would do, minus trying every variant.
    return {**_types("ServerNotification", "params"), **_types("ServerRequest", "params")}


@dataclass
class SchemaWitness:
    """Checks each server message against the schema and remembers every violation."""

    sent_methods: dict[Any, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    _responses: dict[str, str] = field(default_factory=_response_types)
    _messages: dict[str, str] = field(default_factory=_message_types)

    def outgoing(self, data: bytes) -> None:
        for line in data.splitlines():
            try:
                message = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(message, dict) and isinstance(message.get("id"), int | str) and "method" in message:
                self.sent_methods[message["id"]] = message["method"]

    def incoming(self, message: dict[str, Any]) -> None:
        self.seen.append(message)
        if "method" in message:
            kind = "ServerRequest" if "id" in message else "ServerNotification"
            params_type = self._messages.get(message["method"])
            if params_type is None:
                self.violations.append(f"{kind} with a method the schema does not know: {message['method']!r}")
            else:
                self._check(params_type, message.get("params"), context=message["method"])
        elif "error" in message:
            self._check("JSONRPCError", message)
        else:
            rid = message.get("id")
            method = self.sent_methods.get(rid) if isinstance(rid, int | str) else None
            type_name = self._responses.get(method or "")
            if type_name is None:
                self.violations.append(f"response to unknown request id {message.get('id')!r}: {message}")
            else:
                self._check(type_name, message.get("result"), context=method)

    def _check(self, def_name: str, instance: Any, *, context: str | None = None) -> None:
        errors = sorted(validator_for(def_name).iter_errors(instance), key=lambda e: list(e.path))
        for error in errors[:3]:
            where = "/".join(str(p) for p in error.absolute_path)
            self.violations.append(f"{context or def_name} at /{where}: {error.message}")


@dataclass
class Harness:
    client: AppServerClient
    end: MemoryClientEnd
    witness: SchemaWitness
    settings: Settings

    async def write(self, data: bytes) -> None:
        """Send raw bytes as the client would (recorded for the schema witness like every request)."""
        await self.client.send_raw(data)

    def on_arrival(self, method: str) -> anyio.Event:
        """An event set when a ``method`` message reaches the client; the schema witness still sees every one."""
        arrived, before = anyio.Event(), self.client.on_message

        def watch(message: dict[str, Any]) -> None:
            if before is not None:
                before(message)
            if message.get("method") == method:
                arrived.set()

        self.client.on_message = watch
        return arrived


@asynccontextmanager
async def running_server(
    home: Path,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    initialize: bool = True,
    experimental: bool = True,
    max_frame: int | None = None,
) -> AsyncIterator[Harness]:
    settings = Settings.load(env={"THREADLINE_HOME": str(home), **(env or {})}, overrides=overrides)
    witness = SchemaWitness()
    kwargs = {} if max_frame is None else {"max_frame": max_frame}
    async with memory_transport(**kwargs) as (transport, end), anyio.create_task_group() as tg:
        server_done = anyio.Event()

        async def run_server() -> None:
            try:
                await serve(settings, transport)
            finally:
                server_done.set()

        tg.start_soon(run_server)

        async def send(data: bytes) -> None:
            witness.outgoing(data)
            await end.write(data)

        async def frames() -> AsyncIterator[bytes]:
            async for frame in end.frames:
                witness.raw.append(frame)
                yield frame

        client = AppServerClient(send, frames())
        client.on_message = witness.incoming
        async with client.running():
            if initialize:
                await client.initialize(experimental=experimental)
            yield Harness(client, end, witness, settings)
            end.close()
            with anyio.fail_after(10):
                await server_done.wait()
    assert not witness.violations, "server sent messages that break the schema:\n" + "\n".join(witness.violations)


SIM_ENV = {"SIM_API_KEY": "sk-sim-test-key"}


def sim_overrides(base_url: str, *, http_transport: str | None = None, **provider: object) -> list[str]:
    """Config overrides pointing the active provider at a simulator (``-c`` style, values in TOML), carried by
    `http_transport` when given (else the default)."""
    fields = {"name": "Simulator", "base_url": base_url, "env_key": "SIM_API_KEY", "stream_max_retries": 2,
              "request_max_retries": 2, "stream_idle_timeout_ms": 5000, **provider}
    table = ", ".join(f"{key} = {_toml(value)}" for key, value in fields.items())
    overrides = ['model_provider="sim"', f"model_providers.sim={{ {table} }}"]
    if http_transport is not None:
        overrides.append(f"http_transport={_toml(http_transport)}")
    return overrides


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
