"""Safety net: import the generated source in memory and build a msgspec decoder for every type it defines.

The normalizer's union checks should already reject anything msgspec cannot decode; this catches what they
miss (with the definition's schema path) so the generator never writes code that fails at import or at first
use. The throwaway package name keeps the real ``protocol._generated`` untouched.
"""

from __future__ import annotations

import sys
import types as pytypes

import msgspec

from .ir import Protocol

_PACKAGE = "_threadline_codegen_verify"


def verify(proto: Protocol, types_src: str, methods_src: str) -> list[str]:
    """Problems found importing ``types_src``/``methods_src`` (empty when both import and every type decodes)."""
    package = pytypes.ModuleType(_PACKAGE)
    package.__path__ = []
    modules = {_PACKAGE: package}
    problems: list[str] = []
    try:
        sys.modules.update(modules)
        for name, source in (("types", types_src), ("methods", methods_src)):
            module = pytypes.ModuleType(f"{_PACKAGE}.{name}")
            module.__package__ = _PACKAGE
            sys.modules[module.__name__] = modules[module.__name__] = module
            try:
                exec(compile(source, f"<generated {name}.py>", "exec"), module.__dict__)  # noqa: S102 - our own output
            except Exception as exc:  # any failure is a generator bug; report it rather than crash
                return [f"generated {name}.py does not import: {type(exc).__name__}: {exc}"]
        generated = sys.modules[f"{_PACKAGE}.types"]
        defs = [*proto.structs.values(), *proto.aliases.values()]
        for definition in defs:
            try:
                msgspec.json.Decoder(getattr(generated, definition.name))
            except Exception as exc:  # msgspec raises TypeError, but any failure means the same
                problems.append(f"{definition.origin}: msgspec rejects the generated {definition.name}: {exc}")
    finally:
        for name in modules:
            sys.modules.pop(name, None)
    return problems
