"""Internals of ``scripts/gen_protocol.py`` (the only entry point): schema/ → msgspec code.

Pipeline: ``load`` (read, meta-check, merge, resolve) → ``normalize`` (schema → ``ir``, union checks) →
``emit`` (ir → source text) → ``verify`` (import the text in memory, build a decoder for every type).
Every stage reports problems as :class:`codegen.ir.GenError` with the schema file and path.
"""
