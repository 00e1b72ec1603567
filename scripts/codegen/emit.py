"""IR → source text for ``protocol/_generated/`` (types.py, methods.py, __init__.py, bundle.json).

Contract: output is a pure function of the IR and the banner (no timestamps, no dict-order accidents), lines
fit in 120 columns wherever a break is possible, and the code reads as if written by hand in ruff's style, so
no formatter is needed. Like lsprotocol, it accumulates lines; there are no templates.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import msgspec

from .ir import (
    AliasDef,
    AnyT,
    Constrained,
    DictT,
    FieldDef,
    ListT,
    LiteralT,
    MethodGroup,
    Named,
    NoneT,
    Prim,
    Protocol,
    StructDef,
    TupleT,
    TypeExpr,
    UnionT,
)

WIDTH = 120
_TYPING_NAMES = ("Annotated", "Any", "Final", "Literal", "TypeAlias")
_BASE_NAMES = ("UNSET", "MethodSpec", "UnsetType", "WireStruct")
_UNSET_TYPE = Named("UnsetType")


def lit(value: str | int | float | bool | None) -> str:
    """A Python literal for a JSON scalar (strings double-quoted; JSON string escapes are valid Python)."""
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    return repr(value)


def render(t: TypeExpr, used: set[str]) -> str:
    """``t`` on one line; records in ``used`` the names the spelling needs imported."""
    match t:
        case Prim(name):
            return name
        case AnyT():
            used.add("Any")
            return "Any"
        case NoneT():
            return "None"
        case Named(name):
            used.add(name)
            return name
        case ListT(item):
            return f"list[{render(item, used)}]"
        case TupleT(items):
            return f"tuple[{', '.join(render(i, used) for i in items)}]" if items else "tuple[()]"
        case DictT(value):
            return f"dict[str, {render(value, used)}]"
        case LiteralT(values):
            used.add("Literal")
            return f"Literal[{', '.join(lit(v) for v in values)}]"
        case UnionT(members):
            return " | ".join(render(m, used) for m in members)
        case Constrained(inner, meta):
            used.update(("Annotated", "msgspec"))
            args = ", ".join(f"{k}={v!r}" for k, v in meta)
            return f"Annotated[{render(inner, used)}, msgspec.Meta({args})]"
    raise AssertionError(t)


def layout(prefix: str, t: TypeExpr, suffix: str, indent: str, used: set[str]) -> list[str]:
    """``indent + prefix + t + suffix``, broken ruff-style (parenthesized ``|`` chains, one literal per line)."""
    flat = f"{indent}{prefix}{render(t, used)}{suffix}"
    if len(flat) <= WIDTH:
        return [flat]
    inner = indent + "    "
    if isinstance(t, UnionT):
        if len(f"{inner}{render(t, used)}") <= WIDTH:
            return [f"{indent}{prefix}(", f"{inner}{render(t, used)}", f"{indent}){suffix}"]
        lines = [f"{indent}{prefix}("]
        for i, member in enumerate(t.members):
            lines += layout("| " if i else "", member, "", inner, used)
        return [*lines, f"{indent}){suffix}"]
    if isinstance(t, LiteralT):
        used.add("Literal")
        return [f"{indent}{prefix}Literal[", *(f"{inner}{lit(v)}," for v in t.values), f"{indent}]{suffix}"]
    return [flat]


def docstring(text: str, indent: str) -> list[str]:
    """A docstring for ``text``: the author's line breaks kept, long lines wrapped, quotes escaped."""
    body = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body = body[:-1] + '\\"'
    lines: list[str] = []
    for raw in body.splitlines():
        raw = raw.rstrip().expandtabs(4)
        if not raw:
            if lines and lines[-1]:
                lines.append("")
            continue
        bullet = re.match(r"\s*(?:[-*]|\d+[.)])\s+", raw)
        hang = " " * (bullet.end() if bullet else len(raw) - len(raw.lstrip()))
        lines += textwrap.wrap(
            raw,
            width=WIDTH - len(indent) - 3,
            subsequent_indent=hang,
            break_long_words=False,
            break_on_hyphens=False,
        )
    if len(lines) == 1 and len(f'{indent}"""{lines[0]}"""') <= WIDTH:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}" if line else "" for line in lines[1:]), f'{indent}"""']


def module_docstring(banner: list[str], role: str) -> list[str]:
    return docstring("\n".join([*banner, "", role]), "")


def _imports(used: set[str], *, local: list[str] | None = None) -> list[str]:
    lines = ["from __future__ import annotations", ""]
    typing_names = [n for n in _TYPING_NAMES if n in used]
    if typing_names:
        lines += [f"from typing import {', '.join(typing_names)}", ""]
    if "msgspec" in used:
        lines += ["import msgspec", ""]
    base = [n for n in _BASE_NAMES if n in used]
    if base:
        lines += [f"from protocol._base import {', '.join(base)}", ""]
    if local:
        local = sorted(local, key=lambda n: (_isort_key(n)[0], n.lower(), n))  # isort compares members caseless
        one = f"from .types import {', '.join(local)}"
        lines += [one] if len(one) <= WIDTH else ["from .types import (", *(f"    {n}," for n in local), ")"]
        lines.append("")
    return lines


def _all(names: list[str]) -> list[str]:
    if not names:
        return ["__all__: list[str] = []"]
    return ["__all__ = [", *(f"    {lit(n)}," for n in sorted(names, key=_isort_key)), "]"]


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order-by-type (what ruff's RUF022 expects): CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _call_lines(head: str, args: list[str], tail: str, indent: str) -> list[str]:
    """``head(args)tail`` on one line if it fits, else one argument per line with a trailing comma."""
    one = f"{indent}{head}({', '.join(args)}){tail}"
    if len(one) <= WIDTH:
        return [one]
    return [f"{indent}{head}(", *(f"{indent}    {a}," for a in args), f"{indent}){tail}"]


# --- types.py ---------------------------------------------------------------------------------------------


def emit_types(proto: Protocol, banner: list[str]) -> str:
    used: set[str] = set()
    blocks = [_struct_block(s, used) for s in proto.structs.values()]
    aliases = [_alias_block(proto.aliases[name], used) for name in proto.alias_order]
    role = (
        "Wire types of the Threadline protocol: one msgspec Struct per schema object definition (camelCase wire "
        "names via explicit rename maps; absent optional fields are UNSET, never encoded), then the union and "
        "enum aliases in dependency order."
    )
    lines = [*module_docstring(banner, role), "", *_imports(used), *_all([*proto.structs, *proto.aliases])]
    for block in blocks:
        lines += ["", "", *block]
    if aliases:
        lines += ["", ""]
        for i, block in enumerate(aliases):
            lines += [*([""] if i else []), *block]
    return "\n".join(lines) + "\n"


def _struct_block(struct: StructDef, used: set[str]) -> list[str]:
    used.add("WireStruct")
    # msgspec applies kw_only only to the fields a class defines itself, so WireStruct's setting is not enough.
    args = ["WireStruct", "kw_only=True"]
    if struct.tag is not None:
        args += ['tag_field="type"', f"tag={lit(struct.tag)}"]
    if struct.forbid_unknown_fields:
        args.append("forbid_unknown_fields=True")
    renames = [(f.py_name, f.wire_name) for f in struct.fields if f.py_name != f.wire_name]
    rename = "rename={" + ", ".join(f"{lit(py)}: {lit(wire)}" for py, wire in renames) + "}"
    header = f"class {struct.name}({', '.join([*args, rename] if renames else args)}):"
    if len(header) <= WIDTH:
        lines = [header]
    else:
        lines = [f"class {struct.name}(", *(f"    {a}," for a in args)]
        if renames and len(f"    {rename},") <= WIDTH:
            lines.append(f"    {rename},")
        elif renames:
            lines += ["    rename={", *(f"        {lit(py)}: {lit(wire)}," for py, wire in renames), "    },"]
        lines.append("):")
    body: list[str] = []
    after_doc = False
    if struct.doc:
        body += docstring(struct.doc, "    ")
        after_doc = True
    for field in struct.fields:
        if after_doc:
            body.append("")  # fields after a docstring get air; undocumented fields stay together
        body += _field_lines(field, used)
        after_doc = bool(field.doc)
        if field.doc:
            body += docstring(field.doc, "    ")
    return lines + (body or ["    pass"])


def _field_lines(field: FieldDef, used: set[str]) -> list[str]:
    members = list(field.type.members) if isinstance(field.type, UnionT) else [field.type]
    suffix = ""
    if field.has_default:
        suffix = f" = {_default(field.default, used)}"
    elif not field.required:
        members.append(_UNSET_TYPE)
        used.add("UNSET")
        suffix = " = UNSET"
    if field.nullable and not isinstance(field.type, AnyT):
        members.append(NoneT())  # last, as ruff's RUF036 prefers
    annotation = members[0] if len(members) == 1 else UnionT(tuple(members))
    return layout(f"{field.py_name}: ", annotation, suffix, "    ", used)


def _default(value: Any, used: set[str]) -> str:
    if isinstance(value, list | dict):
        used.add("msgspec")
        return f"msgspec.field(default_factory={'list' if isinstance(value, list) else 'dict'})"
    return lit(value)


def _alias_block(alias: AliasDef, used: set[str]) -> list[str]:
    used.add("TypeAlias")
    lines = layout(f"{alias.name}: TypeAlias = ", alias.type, "", "", used)
    return lines + (docstring(alias.doc, "") if alias.doc else [])


# --- methods.py -------------------------------------------------------------------------------------------

_GROUP_DOCS = {
    "ClientRequest": "requests a client sends (the ``ClientRequest`` union)",
    "ClientNotification": "notifications a client sends (the ``ClientNotification`` union)",
    "ServerRequest": "requests the server sends to a client (the ``ServerRequest`` union)",
    "ServerNotification": "notifications the server sends (the ``ServerNotification`` union)",
}


def emit_methods(proto: Protocol, banner: list[str]) -> str:
    used = {"MethodSpec"} if any(g.methods for g in proto.groups) else set()
    if proto.groups:
        used.add("Final")
    local = sorted({n for g in proto.groups for m in g.methods for n in (m.params, m.result) if n})
    role = (
        "The method registry, built from the oneOf variants of ClientRequest, ClientNotification, ServerRequest "
        "and ServerNotification: method → MethodSpec(params, result, experimental flags), plus constant classes "
        "so hand-written code never spells a method name as a string literal."
    )
    names = [g.const_class for g in proto.groups] + [g.registry for g in proto.groups]
    lines = [*module_docstring(banner, role), "", *_imports(used, local=local), *_all(names)]
    for group in proto.groups:
        lines += ["", "", *_const_class(group)]
    for group in proto.groups:
        lines += ["", "", *_registry(group)]
    return "\n".join(lines) + "\n"


def _const_class(group: MethodGroup) -> list[str]:
    lines = [f"class {group.const_class}:", *docstring(f"Method names of {_GROUP_DOCS[group.union]}.", "    ")]
    after_doc = True
    for method in group.methods:
        lines += [*([""] if after_doc else []), f"    {method.const_name}: Final = {lit(method.method)}"]
        after_doc = bool(method.doc)
        if method.doc:
            lines += docstring(method.doc, "    ")
    return lines


def _registry(group: MethodGroup) -> list[str]:
    head = f"{group.registry}: dict[str, MethodSpec] = {{"
    if not group.methods:
        return [f"{head}}}", *docstring(f"MethodSpec by method for {_GROUP_DOCS[group.union]}.", "")]
    lines = [head]
    for method in group.methods:
        key = f"{group.const_class}.{method.const_name}"
        args = [f"method={key}", f"params={method.params or 'None'}"]
        if group.is_request:
            args.append(f"result={method.result or 'None'}")
        if method.experimental:
            args.append("experimental=True")
        if method.experimental_fields:
            args.append(f"experimental_fields=frozenset({{{', '.join(lit(f) for f in method.experimental_fields)}}})")
        lines += _call_lines(f"{key}: MethodSpec", args, ",", "    ")
    return [*lines, "}", *docstring(f"MethodSpec by method for {_GROUP_DOCS[group.union]}.", "")]


# --- __init__.py and bundle.json --------------------------------------------------------------------------


def emit_init(banner: list[str]) -> str:
    role = (
        "Generated protocol package: ``types`` holds the wire Structs and aliases, ``methods`` the method "
        "registry, ``bundle.json`` the merged schema (read it through ``protocol.schema``)."
    )
    return "\n".join(module_docstring(banner, role)) + "\n"


def emit_bundle(document: dict[str, Any]) -> str:
    """Sorted keys, 2-space indent, trailing newline."""
    return msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2).decode() + "\n"
