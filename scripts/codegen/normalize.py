"""Bundle → IR: one struct per object definition (and per titled inline object), aliases for the rest.

Contract: :func:`build_protocol` returns a :class:`~codegen.ir.Protocol` in which every union is one msgspec can
decode unambiguously, every name is a valid, unique Python identifier and aliases can be evaluated in
``alias_order``. Anything else raises ``GenError`` with ``<file>: <path>: <problem>`` lines; the generator never
renames its way out of a clash (no numeric suffixes) and never guesses a name for an untitled inline object.
"""

from __future__ import annotations

import dataclasses
import heapq
import keyword
import re
from typing import Any

from jsonschema import Draft202012Validator

from .emit import render
from .ir import (
    AliasDef,
    AnyT,
    Constrained,
    DictT,
    FieldDef,
    GenError,
    ListT,
    LiteralT,
    MethodDef,
    MethodGroup,
    Named,
    NoneT,
    Origin,
    Prim,
    Protocol,
    StructDef,
    TupleT,
    TypeExpr,
    UnionT,
)
from .load import Bundle

# (union definition, registry constant, method-name constant class, is a request union)
METHOD_GROUPS = (
    ("ClientRequest", "CLIENT_REQUESTS", "ClientMethod", True),
    ("ClientNotification", "CLIENT_NOTIFICATIONS", "ClientNotificationMethod", False),
    ("ServerRequest", "SERVER_REQUESTS", "ServerRequestMethod", True),
    ("ServerNotification", "SERVER_NOTIFICATIONS", "ServerNotificationMethod", False),
)
METHOD_UNIONS = frozenset(group[0] for group in METHOD_GROUPS)

# Names the generated modules define or import themselves; a schema title may not take them.
RESERVED_NAMES = frozenset(
    {"Annotated", "Any", "Final", "Literal", "TypeAlias", "UNSET", "UnsetType", "WireStruct", "MethodSpec"}
    | {group[1] for group in METHOD_GROUPS}
    | {group[2] for group in METHOD_GROUPS}
)
# A field named like a name its class's annotations use would shadow it when msgspec resolves the postponed
# annotations (class attributes are looked up before builtins), so such fields get a trailing underscore too.
_SHADOWING = frozenset({"str", "int", "float", "bool", "list", "dict", "tuple", "msgspec"})
_TITLE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_UNSUPPORTED = ("not", "if", "then", "else", "patternProperties", "dependentSchemas", "$dynamicRef")
_TYPE_KEYWORDS = ("type", "properties", "items", "prefixItems", "oneOf", "anyOf", "allOf", "enum", "const")
_BOUNDS = (("minimum", "ge"), ("maximum", "le"), ("exclusiveMinimum", "gt"), ("exclusiveMaximum", "lt"))
_LENGTHS = (("minLength", "min_length"), ("maxLength", "max_length"))


def snake(name: str) -> str:
    """``httpStatusCode`` → ``http_status_code``, ``apiURL`` → ``api_url``, ``agent-message`` → ``agent_message``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()


def upper_snake(method: str) -> str:
    """``thread/start`` → ``THREAD_START``, ``item/agentMessage/delta`` → ``ITEM_AGENT_MESSAGE_DELTA``."""
    return snake(method).upper()


def build_protocol(bundle: Bundle) -> Protocol:
    """Build the IR for ``bundle``.

    Raises:
        GenError: every problem found (illegal unions, clashes, untitled inline objects, bad method shapes …).
    """
    return _Builder(bundle).run()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _literal_key(value: str | int | bool) -> tuple[str, str | int | bool]:
    # True == 1 in Python; keep them apart when deduplicating.
    return (type(value).__name__, value)


class _Builder:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.defs = bundle.defs
        self.structs: dict[str, StructDef] = {}
        self.aliases: dict[str, AliasDef] = {}
        self.names: dict[str, Origin] = {}
        self.unions: list[tuple[UnionT, Origin]] = []
        self.errors: list[str] = []

    def error(self, origin: Origin, message: str) -> None:
        self.errors.append(f"{origin}: {message}")

    # --- driver -----------------------------------------------------------------------------------------

    def run(self) -> Protocol:
        for name in self.defs:
            origin = self.bundle.origin(name)
            if self._check_type_name(name, origin):
                self.names[name] = origin
        for name, schema in self.defs.items():
            if name not in METHOD_UNIONS:
                self._define(name, schema, self.bundle.origin(name))
        groups = tuple(self._with_experimental_fields(self._group(*group)) for group in METHOD_GROUPS)
        for union, origin in self.unions:
            for problem in self._union_problems(union):
                self.error(origin, problem)
        order = self._alias_order()
        if self.errors:
            raise GenError(self.errors)
        return Protocol(
            structs={name: self.structs[name] for name in sorted(self.structs)},
            aliases={name: self.aliases[name] for name in sorted(self.aliases)},
            groups=groups,
            alias_order=order,
        )

    def _check_type_name(self, name: str, origin: Origin) -> bool:
        if not _TITLE.match(name):
            self.error(origin, f"title {name!r} is not a PascalCase Python identifier")
            return False
        if name in RESERVED_NAMES:
            self.error(origin, f"title {name!r} clashes with a name the generated code uses itself")
            return False
        return True

    def _define(self, name: str, schema: Any, origin: Origin) -> None:
        if self._is_struct(schema, top_level=True):
            self.structs[name] = self._struct(name, schema, origin)
        else:
            doc = schema.get("description") if isinstance(schema, dict) else None
            self.aliases[name] = AliasDef(name, doc, self._type(schema, origin), origin)

    @staticmethod
    def _is_struct(schema: Any, *, top_level: bool) -> bool:
        if not isinstance(schema, dict):
            return False
        if "properties" in schema:
            return True
        if top_level and schema.get("type") == "object":
            if any(k in schema for k in ("oneOf", "anyOf", "allOf", "$ref")):
                return False
            # Free-form objects (additionalProperties true or a schema) are dict aliases; a bare object is an
            # empty struct.
            return schema.get("additionalProperties", False) is False
        return False

    # --- structs ----------------------------------------------------------------------------------------

    def _struct(self, name: str, schema: dict[str, Any], origin: Origin) -> StructDef:
        for key in ("oneOf", "anyOf", "allOf", "$ref"):
            if key in schema:
                self.error(origin, f"an object with properties cannot also have {key!r}")
        if schema.get("type", "object") != "object":
            self.error(origin, f"has properties but type {schema.get('type')!r}")
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        for missing in sorted(required - set(props)):
            self.error(origin.child("required"), f"lists {missing!r}, which is not a property")
        tag = self._tag(props, required)
        fields: list[FieldDef] = []
        py_names: dict[str, str] = {}
        for wire, prop in props.items():
            if wire == "type" and tag is not None:
                continue  # the tag: msgspec reads and writes it from tag_field/tag
            porigin = origin.child("properties", wire)
            py = self._py_name(wire, porigin)
            if py is None:
                continue
            if py in py_names:
                self.error(porigin, f"Python name {py!r} of {wire!r} clashes with property {py_names[py]!r}")
                continue
            py_names[py] = wire
            fields.append(self._field(py, wire, prop, wire in required, porigin))
        return StructDef(
            name=name,
            doc=schema.get("description"),
            fields=tuple(fields),
            origin=origin,
            tag=tag,
            forbid_unknown_fields=schema.get("additionalProperties") is False,
        )

    @staticmethod
    def _tag(props: dict[str, Any], required: set[str]) -> str | None:
        prop = props.get("type")
        if "type" not in required or not isinstance(prop, dict):
            return None
        if isinstance(prop.get("const"), str):
            return prop["const"]
        enum = prop.get("enum")
        if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str):
            return enum[0]
        return None

    def _py_name(self, wire: str, origin: Origin) -> str | None:
        py = snake(wire)
        if not py.isidentifier():
            self.error(origin, f"property {wire!r} has no Python attribute name (got {py!r})")
            return None
        if keyword.iskeyword(py) or py in _SHADOWING:
            py += "_"
        return py

    def _field(self, py: str, wire: str, prop: Any, required: bool, origin: Origin) -> FieldDef:
        nullable, type_ = _split_none(self._type(prop, origin))
        doc = prop.get("description") if isinstance(prop, dict) else None
        experimental = isinstance(prop, dict) and prop.get("x-experimental") is True
        field = FieldDef(py, wire, type_, required, nullable, doc, experimental)
        if required or not isinstance(prop, dict) or "default" not in prop:
            return field
        default = prop["default"]
        schema = {k: v for k, v in prop.items() if k != "default"}
        problems = list(Draft202012Validator({**schema, "$defs": self.defs}).iter_errors(default))
        if problems:
            self.error(origin, f"default {default!r} does not match the property's schema: {problems[0].message}")
        elif isinstance(default, list | dict) and default:
            self.error(origin, "only empty [] or {} defaults are supported for containers")
        else:
            field = FieldDef(py, wire, type_, required, nullable, doc, experimental, default)
        return field

    # --- type expressions -------------------------------------------------------------------------------

    def _type(self, schema: Any, origin: Origin) -> TypeExpr:
        if schema is True:
            return AnyT()
        if not isinstance(schema, dict):
            self.error(origin, "expected a schema object")
            return AnyT()
        for key in _UNSUPPORTED:
            if key in schema:
                self.error(origin, f"keyword {key!r} is not supported by the generator")
        if "$ref" in schema:
            others = [k for k in _TYPE_KEYWORDS if k in schema]
            if others:
                self.error(origin, f"$ref next to {', '.join(others)}; put the shape in its own definition")
            return Named(_ref_name(schema["$ref"]))
        if "allOf" in schema:
            parts = schema["allOf"]
            if len(parts) != 1 or any(k in schema for k in _TYPE_KEYWORDS if k != "allOf"):
                self.error(origin, "allOf is only supported with a single member and nothing beside it")
                return AnyT()
            return self._type(parts[0], origin.child("allOf", 0))
        if "oneOf" in schema and "anyOf" in schema:
            self.error(origin, "oneOf and anyOf on the same schema")
        for key in ("oneOf", "anyOf"):
            if key in schema:
                if "properties" in schema:
                    self.error(origin, f"{key} next to properties is not supported")
                members = [self._type(sub, origin.child(key, i)) for i, sub in enumerate(schema[key])]
                return self._union(members, origin)
        if "enum" in schema:
            return self._literal(schema["enum"], origin)
        if "const" in schema:
            return self._literal([schema["const"]], origin)
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self._type_for(schema, k, origin) for k in kind], origin)
        if kind is None:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                return AnyT()  # {} or annotations only: any JSON value
        return self._type_for(schema, kind, origin)

    def _type_for(self, schema: dict[str, Any], kind: str, origin: Origin) -> TypeExpr:
        if kind == "null":
            return NoneT()
        if kind == "string":
            lengths = tuple((arg, schema[keyword_]) for keyword_, arg in _LENGTHS
                            if isinstance(schema.get(keyword_), int) and not isinstance(schema[keyword_], bool))
            return Constrained(Prim("str"), lengths) if lengths else Prim("str")
        if kind == "boolean":
            return Prim("bool")
        if kind in ("integer", "number"):
            prim = Prim("int" if kind == "integer" else "float")
            meta = []
            for keyword_, arg in _BOUNDS:
                bound = schema.get(keyword_)
                if isinstance(bound, int | float) and not isinstance(bound, bool):
                    if kind == "integer" and float(bound).is_integer():
                        bound = int(bound)
                    meta.append((arg, bound))
            return Constrained(prim, tuple(meta)) if meta else prim
        if kind == "array":
            if "prefixItems" in schema:
                items = schema["prefixItems"]
                return TupleT(tuple(self._type(s, origin.child("prefixItems", i)) for i, s in enumerate(items)))
            if "items" in schema:
                return ListT(self._type(schema["items"], origin.child("items")))
            return ListT(AnyT())
        if kind == "object":
            if "properties" in schema:
                return self._hoist(schema, origin)
            extra = schema.get("additionalProperties", True)
            if isinstance(extra, dict) and extra:
                return DictT(self._type(extra, origin.child("additionalProperties")))
            return DictT(AnyT())
        self.error(origin, f"unknown type {kind!r}")
        return AnyT()

    def _hoist(self, schema: dict[str, Any], origin: Origin) -> TypeExpr:
        title = schema.get("title")
        if not isinstance(title, str) or not title:
            self.error(origin, 'inline object with properties needs a "title" (the name of its generated class)')
            return AnyT()
        if not self._check_type_name(title, origin):
            return AnyT()
        if title in self.names:
            self.error(origin, f"inline object title {title!r} clashes with {self.names[title]}")
            return Named(title)
        self.names[title] = origin
        self.structs[title] = self._struct(title, schema, origin)
        return Named(title)

    def _literal(self, values: list[Any], origin: Origin) -> TypeExpr:
        literals: list[str | int | bool] = []
        seen: set[tuple[str, Any]] = set()
        nullable = False
        for value in values:
            if value is None:
                nullable = True
            elif isinstance(value, str | int) and not isinstance(value, float):
                if _literal_key(value) not in seen:
                    seen.add(_literal_key(value))
                    literals.append(value)
            else:
                self.error(origin, f"enum/const value {value!r} is not a string, integer, boolean or null")
        members: list[TypeExpr] = [LiteralT(tuple(literals))] if literals else []
        if nullable:
            members.append(NoneT())
        if not members:
            self.error(origin, "empty enum")
            return AnyT()
        return members[0] if len(members) == 1 else self._union(members, origin)

    def _union(self, members: list[TypeExpr], origin: Origin) -> TypeExpr:
        flat: list[TypeExpr] = []
        for member in members:
            flat.extend(member.members if isinstance(member, UnionT) else [member])
        # Inline literals merge into one Literal (codex spells string enums as a oneOf of consts).
        literal_values: list[str | int | bool] = []
        seen: set[tuple[str, Any]] = set()
        merged: list[TypeExpr] = []
        for member in flat:
            if isinstance(member, LiteralT):
                for value in member.values:
                    if _literal_key(value) in seen:
                        self.error(origin, f"value {value!r} appears in two members")
                    else:
                        seen.add(_literal_key(value))
                        literal_values.append(value)
                if not any(isinstance(m, LiteralT) for m in merged):
                    merged.append(LiteralT(()))  # placeholder keeps the first literal's position
            elif member not in merged:
                merged.append(member)
        result = [LiteralT(tuple(literal_values)) if isinstance(m, LiteralT) else m for m in merged]
        if AnyT() in result and all(isinstance(m, AnyT | NoneT) for m in result):
            return AnyT()
        if len(result) == 1:
            return result[0]
        union = UnionT(tuple(result))
        self.unions.append((union, origin))
        return union

    # --- union checks -----------------------------------------------------------------------------------

    def _leaves(self, t: TypeExpr, seen: frozenset[str]) -> list[tuple[str, Any]]:
        """(kind, identity) for every decodable alternative ``t`` stands for, aliases expanded."""
        match t:
            case NoneT():
                return []
            case AnyT():
                return [("any", None)]
            case Prim(name):
                return [(name, None)]
            case Constrained(inner, _):
                return self._leaves(inner, seen)
            case LiteralT(values):
                kinds = {"bool": "bool-literal", "int": "int-literal", "str": "str-literal"}
                out: dict[str, list[Any]] = {}
                for value in values:
                    out.setdefault(kinds[type(value).__name__], []).append(value)
                return [(kind, tuple(vals)) for kind, vals in out.items()]
            case ListT() | TupleT():
                return [("array", None)]
            case DictT():
                return [("object", render(t, set()))]
            case UnionT(members):
                return [leaf for m in members for leaf in self._leaves(m, seen)]
            case Named(name) if name in self.structs:
                tag = self.structs[name].tag
                return [("tagged", (name, tag))] if tag is not None else [("object", name)]
            case Named(name) if name in self.aliases and name not in seen:
                return self._leaves(self.aliases[name].type, seen | {name})
        return []

    def _union_problems(self, union: UnionT) -> list[str]:
        by_kind: dict[str, list[tuple[str, Any]]] = {}
        for member in union.members:
            label = render_label(member)
            for kind, ident in self._leaves(member, frozenset()):
                entries = by_kind.setdefault(kind, [])
                if all(ident != known or ident is None for _, known in entries):
                    entries.append((label, ident))
        labels = {kind: [label for label, _ in entries] for kind, entries in by_kind.items()}
        count = {kind: len(entries) for kind, entries in by_kind.items()}
        total = sum(count.values())
        problems: list[str] = []

        def report(message: str, *kinds: str) -> None:
            names = [label for kind in kinds for label in labels.get(kind, [])]
            problems.append(f"union has {message} ({', '.join(dict.fromkeys(names))})")

        if count.get("any") and total > 1:
            report("a free-form {} member next to other members", "any", *[k for k in by_kind if k != "any"])
        for prim, lit, what in (("str", "str-literal", "string"), ("int", "int-literal", "integer")):
            if count.get(prim, 0) + min(count.get(lit, 0), 1) > 1:
                report(f"two {what} members", prim, lit)
            problems.extend(self._overlaps(by_kind.get(lit, [])))
        if count.get("bool", 0) + count.get("bool-literal", 0) > 1:
            report("two boolean members", "bool", "bool-literal")
        if count.get("float", 0) > 1:
            report("two number members", "float")
        if count.get("array", 0) > 1:
            report("two array members", "array")
        if count.get("object", 0) > 1:
            report("two untagged object members", "object")
        if count.get("object") and count.get("tagged"):
            report("tagged and untagged object members", "tagged", "object")
        tags: dict[str, str] = {}
        for label, (_, tag) in by_kind.get("tagged", []):
            if tag in tags:
                problems.append(f"union has two members tagged {tag!r} ({tags[tag]}, {label})")
            tags.setdefault(tag, label)
        return problems

    @staticmethod
    def _overlaps(entries: list[tuple[str, Any]]) -> list[str]:
        owner: dict[Any, str] = {}
        problems = []
        for label, values in entries:
            for value in values:
                if value in owner and owner[value] != label:
                    problems.append(f"union has the value {value!r} in two members ({owner[value]}, {label})")
                owner.setdefault(value, label)
        return problems

    # --- alias order ------------------------------------------------------------------------------------

    def _alias_order(self) -> tuple[str, ...]:
        deps = {name: {n for n in _named(alias.type) if n in self.aliases} for name, alias in self.aliases.items()}
        users: dict[str, set[str]] = {name: set() for name in deps}
        for name, needs in deps.items():
            for need in needs:
                users[need].add(name)
        waiting = {name: len(needs) for name, needs in deps.items()}
        ready = [name for name, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for user in users[name]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, user)
        for name in sorted(set(deps) - set(order)):
            cycle = ", ".join(sorted(n for n in deps[name] if n not in order))
            self.error(
                self.aliases[name].origin,
                f"alias {name} depends on itself (through {cycle}); aliases are evaluated at import, "
                "so a recursive shape needs an object definition in the loop",
            )
        return tuple(order)

    # --- methods ----------------------------------------------------------------------------------------

    def _group(self, union: str, registry: str, const_class: str, is_request: bool) -> MethodGroup:
        schema = self.defs.get(union)
        if schema is None:
            return MethodGroup(union, registry, const_class, is_request, None, ())
        origin = self.bundle.origin(union)
        variants = schema.get("oneOf")
        if not isinstance(variants, list):
            self.error(origin, "a method union must be a oneOf of message shapes")
            return MethodGroup(union, registry, const_class, is_request, schema.get("description"), ())
        methods: dict[str, MethodDef] = {}
        consts: dict[str, str] = {}
        for i, variant in enumerate(variants):
            method = self._method(variant, origin.child("oneOf", i), is_request)
            if method is None:
                continue
            if method.method in methods:
                self.error(origin.child("oneOf", i), f"method {method.method!r} appears twice in {union}")
            elif method.const_name in consts:
                self.error(
                    origin.child("oneOf", i),
                    f"constant {const_class}.{method.const_name} would name both {consts[method.const_name]!r} "
                    f"and {method.method!r}",
                )
            else:
                methods[method.method] = method
                consts[method.const_name] = method.method
        ordered = tuple(methods[m] for m in sorted(methods))
        return MethodGroup(union, registry, const_class, is_request, schema.get("description"), ordered)

    def _method(self, variant: Any, origin: Origin, is_request: bool) -> MethodDef | None:
        if isinstance(variant, dict) and "$ref" in variant:
            variant = self.defs[_ref_name(variant["$ref"])]
        props = variant.get("properties") if isinstance(variant, dict) else None
        if not isinstance(props, dict):
            self.error(origin, "a method variant must be an object with properties")
            return None
        method_schema = props.get("method")
        method = None
        if isinstance(method_schema, dict):
            method = method_schema.get("const")
            enum = method_schema.get("enum")
            if method is None and isinstance(enum, list) and len(enum) == 1:
                method = enum[0]
        if not isinstance(method, str) or not method:
            self.error(origin, 'properties/method must be {"const": "<method name>"}')
            return None
        if is_request and "id" not in props:
            self.error(origin, f"request {method!r} has no id property")
        if not is_request and "id" in props:
            self.error(origin, f"notification {method!r} has an id property")
        params = self._message_type(props.get("params"), origin.child("properties", "params"), "params")
        result = None
        if is_request:
            if "x-response" not in variant:
                self.error(origin, f"request {method!r} has no x-response")
            else:
                result = self._message_type(variant["x-response"], origin.child("x-response"), "x-response")
        elif "x-response" in variant:
            self.error(origin, f"notification {method!r} has an x-response")
        const_name = upper_snake(method)
        if not const_name.isidentifier():
            self.error(origin, f"method {method!r} gives no constant name (got {const_name!r})")
        return MethodDef(
            method=method,
            const_name=const_name,
            params=params,
            result=result,
            experimental=variant.get("x-experimental") is True,
            experimental_fields=(),
            doc=variant.get("description"),
            origin=origin,
        )

    def _with_experimental_fields(self, group: MethodGroup) -> MethodGroup:
        methods = []
        for method in group.methods:
            params = self.structs.get(method.params or "")
            wire = tuple(f.wire_name for f in params.fields if f.experimental) if params else ()
            methods.append(dataclasses.replace(method, experimental_fields=wire))
        return dataclasses.replace(group, methods=tuple(methods))

    def _message_type(self, schema: Any, origin: Origin, what: str) -> str | None:
        if schema is None:
            return None
        _, type_ = _split_none(self._type(schema, origin))
        if isinstance(type_, NoneT):
            return None
        if isinstance(type_, Named):
            return type_.name
        self.error(origin, f"{what} must be a $ref to a definition (or absent)")
        return None


def _split_none(t: TypeExpr) -> tuple[bool, TypeExpr]:
    if isinstance(t, UnionT) and NoneT() in t.members:
        rest = tuple(m for m in t.members if m != NoneT())
        return True, rest[0] if len(rest) == 1 else UnionT(rest)
    return False, t


def _named(t: TypeExpr) -> set[str]:
    match t:
        case Named(name):
            return {name}
        case ListT(item) | DictT(item) | Constrained(item, _):
            return _named(item)
        case TupleT(items) | UnionT(items):
            return {n for item in items for n in _named(item)}
    return set()


def render_label(t: TypeExpr) -> str:
    """A short, Python-looking spelling of ``t`` for error messages."""
    return render(t, set())
