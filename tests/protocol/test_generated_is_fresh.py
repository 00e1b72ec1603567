"""``protocol/_generated/`` matches ``schema/`` (so a plain pytest run catches a forgotten regeneration)."""

from __future__ import annotations

from types import ModuleType

import pytest


def test_generated_protocol_matches_the_schema(gen: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    status = gen.main(["--check"])
    out, err = capsys.readouterr()
    assert status == 0, f"protocol/_generated is stale; run python scripts/gen_protocol.py\n{err}{out[:4000]}"
