"""Method table: wire method → (registry spec, params decoder, handler).

Routes are built from the generated registry (``protocol._generated.methods.CLIENT_REQUESTS``), so a handler
can only be registered for a method the schema defines. Params decode in the second phase, with a decoder
cached per method; the router also enforces experimental gating at method and field level. A route may carry a
``repair``: params that fail to decode are passed to it (as plain JSON values) and decoded once more from what
it returns, for the shapes Codex accepts beyond its own schema. Valid params never pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from protocol._base import MethodSpec
from protocol._generated.methods import CLIENT_REQUESTS

from ..errors import InvalidParams, InvalidRequest, MethodNotFound

if TYPE_CHECKING:
    from .connection import RequestContext

__all__ = ["Handler", "Router"]

Handler = Callable[["RequestContext", Any], Awaitable[Any]]
Repair = Callable[[Any], Any]

_PATH = re.compile(r" - at `(\$[^`]*)`$")


@dataclass(frozen=True, slots=True)
class _Route:
    spec: MethodSpec
    decoder: msgspec.json.Decoder[Any] | None
    handler: Handler
    experimental_attrs: tuple[tuple[str, str], ...]  # (wire name, attribute name)
    repair: Repair | None = None


class Router:
    def __init__(self, specs: dict[str, MethodSpec] | None = None) -> None:
        self._specs = CLIENT_REQUESTS if specs is None else specs
        self._routes: dict[str, _Route] = {}

    def add(self, method: str, handler: Handler, *, repair: Repair | None = None) -> None:
        spec = self._specs.get(method)
        if spec is None:
            raise KeyError(f"{method!r} is not a client request in the schema")
        decoder: msgspec.json.Decoder[Any] | None = msgspec.json.Decoder(spec.params) if spec.params else None
        attrs: tuple[tuple[str, str], ...] = ()
        if spec.experimental_fields and spec.params is not None:
            by_wire = {f.encode_name: f.name for f in msgspec.structs.fields(spec.params)}
            attrs = tuple((wire, by_wire[wire]) for wire in sorted(spec.experimental_fields))
        self._routes[method] = _Route(spec, decoder, handler, attrs, repair)

    async def call(self, ctx: RequestContext, method: str, raw_params: msgspec.Raw | Any) -> Any:
        spec = self._specs.get(method)
        if spec is None:
            raise MethodNotFound(f"unknown method: {method}")
        if spec.experimental and not ctx.connection.experimental_api:
            raise InvalidRequest(f"{method} requires experimentalApi capability")
        route = self._routes.get(method)
        if route is None:
            raise MethodNotFound(f"{method} is not supported by threadline yet")
        params = self._decode(route, method, raw_params)
        if route.experimental_attrs and not ctx.connection.experimental_api:
            for wire, attr in route.experimental_attrs:
                if getattr(params, attr, UNSET) not in (UNSET, None):
                    raise InvalidRequest(f"{method}.{wire} requires experimentalApi capability")
        return await route.handler(ctx, params)

    @staticmethod
    def _decode(route: _Route, method: str, raw_params: msgspec.Raw | Any) -> Any:
        if route.decoder is None:
            return None
        if raw_params is UNSET:
            raise InvalidRequest("Invalid request: missing field `params`")
        try:
            return route.decoder.decode(raw_params)
        except msgspec.ValidationError as first:
            exc = first
            if route.repair is not None and isinstance(raw_params, msgspec.Raw):
                try:
                    return route.decoder.decode(msgspec.json.encode(route.repair(msgspec.json.decode(raw_params))))
                except msgspec.ValidationError as second:
                    exc = second  # what is still wrong once the accepted shapes are filled in
            text = str(exc)
            match = _PATH.search(text)
            path = match.group(1) if match else "$"
            raise InvalidParams(f"Invalid params for {method}: {text}", data={"path": path}) from exc
