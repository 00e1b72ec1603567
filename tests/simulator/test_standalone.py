"""`python -m server.simulator` runs standalone and announces its base URL on one stdout line."""

from __future__ import annotations

import sys

import anyio
import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_the_standalone_simulator_prints_its_url_and_serves_it() -> None:
    with anyio.fail_after(20):
        async with await anyio.open_process([sys.executable, "-m", "server.simulator", "--port", "0"]) as process:
            try:
                assert process.stdout is not None
                line = b""
                async for chunk in process.stdout:
                    line += chunk
                    if b"\n" in line:
                        break
                url = line.decode().strip()
                assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
                async with httpx.AsyncClient() as http:
                    answer = await http.post(url + "/responses", json={"input": "hello"})
                assert answer.status_code == 200 and "response.completed" in answer.text
            finally:
                process.terminate()
                await process.wait()
