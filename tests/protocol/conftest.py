"""Shared helpers for the protocol tests: load the generator script, write throwaway schemas, import output.

``scripts/`` is not a package, so the generator is loaded from its path; generated fixture packages are imported
under unique names from ``tmp_path`` so they never collide with the real ``protocol._generated``.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Plain `pytest` does not put the repo root on sys.path; the generated code imports protocol._base.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_counter = itertools.count()


def load_generator() -> ModuleType:
    """The ``scripts/gen_protocol.py`` module (loaded once)."""
    if "gen_protocol" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gen_protocol", ROOT / "scripts" / "gen_protocol.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gen_protocol"] = module
        spec.loader.exec_module(module)
    return sys.modules["gen_protocol"]


def write_schema(directory: Path, files: dict[str, dict[str, Any]]) -> Path:
    """Write ``{"a.json": {<defs>}}`` as schema files (titles filled in from the keys unless given)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, defs in files.items():
        defs = {key: {"title": key, **value} if isinstance(value, dict) else value for key, value in defs.items()}
        document = {"$schema": DRAFT, "title": name, "$defs": defs}
        (directory / name).write_bytes(msgspec.json.encode(document))
    return directory


def import_generated(out_dir: Path) -> tuple[ModuleType, ModuleType]:
    """Import a generated package from ``out_dir``; returns its ``types`` and ``methods`` modules."""
    name = f"_generated_fixture_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(
        name, out_dir / "__init__.py", submodule_search_locations=[str(out_dir)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.types"), importlib.import_module(f"{name}.methods")


@pytest.fixture(scope="session")
def gen() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def fixture_out(tmp_path_factory: pytest.TempPathFactory, gen: ModuleType) -> Path:
    out = tmp_path_factory.mktemp("generated")
    assert gen.main(["--schema-dir", str(FIXTURE_SCHEMA), "--out-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def generated(fixture_out: Path) -> Iterator[tuple[ModuleType, ModuleType]]:
    yield import_generated(fixture_out)


@pytest.fixture(scope="session")
def types_(generated: tuple[ModuleType, ModuleType]) -> ModuleType:
    return generated[0]


@pytest.fixture(scope="session")
def methods(generated: tuple[ModuleType, ModuleType]) -> ModuleType:
    return generated[1]
