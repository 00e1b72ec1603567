"""Intermediate representation between the JSON Schema bundle and the emitted Python.

Frozen dataclasses only, so passes cannot mutate each other's output. ``TypeExpr`` is a small type algebra
(primitives, named references, containers, literals, unions); ``StructDef``/``AliasDef``/``MethodDef`` are
the top-level things the emitter writes. ``GenError`` carries every problem found, each already phrased as
``<file>: <path>: <message>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class GenError(Exception):
    """The schema cannot be turned into code; ``messages`` lists every problem (sorted, deduplicated)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = sorted(set(messages))
        super().__init__("\n".join(self.messages))


@dataclass(frozen=True)
class Origin:
    """Where a schema node lives: the file label (``schema/turn.json``) and the path inside it."""

    file: str
    path: str

    def child(self, *parts: str | int) -> Origin:
        return Origin(self.file, "/".join([self.path, *(str(p) for p in parts)]))

    def __str__(self) -> str:
        return f"{self.file}: {self.path}"


# --- type expressions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    name: str  # "str" | "int" | "float" | "bool"


@dataclass(frozen=True)
class AnyT:
    pass


@dataclass(frozen=True)
class NoneT:
    pass


@dataclass(frozen=True)
class Named:
    name: str


@dataclass(frozen=True)
class ListT:
    item: TypeExpr


@dataclass(frozen=True)
class TupleT:
    items: tuple[TypeExpr, ...]


@dataclass(frozen=True)
class DictT:
    value: TypeExpr


@dataclass(frozen=True)
class LiteralT:
    values: tuple[str | int | bool, ...]


@dataclass(frozen=True)
class UnionT:
    members: tuple[TypeExpr, ...]


@dataclass(frozen=True)
class Constrained:
    """``Annotated[inner, msgspec.Meta(**meta)]`` for numeric bounds (``minimum`` → ``ge`` …) and string lengths
    (``minLength`` → ``min_length`` …)."""

    inner: TypeExpr
    meta: tuple[tuple[str, int | float], ...]


TypeExpr = Prim | AnyT | NoneT | Named | ListT | TupleT | DictT | LiteralT | UnionT | Constrained


# --- definitions ------------------------------------------------------------------------------------------

NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class FieldDef:
    py_name: str
    wire_name: str
    type: TypeExpr  # without None; see ``nullable``
    required: bool
    nullable: bool
    doc: str | None
    experimental: bool = False
    default: Any = NO_DEFAULT  # the schema ``default`` (only on optional fields)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class StructDef:
    name: str
    doc: str | None
    fields: tuple[FieldDef, ...]
    origin: Origin
    tag: str | None = None  # value of the ``type`` const for internally tagged variants
    forbid_unknown_fields: bool = False  # ``additionalProperties: false``


@dataclass(frozen=True)
class AliasDef:
    name: str
    doc: str | None
    type: TypeExpr
    origin: Origin


@dataclass(frozen=True)
class MethodDef:
    method: str
    const_name: str  # UPPER_SNAKE constant in the direction's constant class
    params: str | None
    result: str | None
    experimental: bool
    experimental_fields: tuple[str, ...]
    doc: str | None
    origin: Origin


@dataclass(frozen=True)
class MethodGroup:
    union: str  # ClientRequest, ...
    registry: str  # CLIENT_REQUESTS, ...
    const_class: str  # ClientMethod, ...
    is_request: bool
    doc: str | None
    methods: tuple[MethodDef, ...]


@dataclass(frozen=True)
class Protocol:
    structs: dict[str, StructDef]
    aliases: dict[str, AliasDef]
    groups: tuple[MethodGroup, ...]
    alias_order: tuple[str, ...] = field(default=())  # dependency order for emission
