"""An upstream simulator: a real HTTP server on 127.0.0.1 that speaks the OpenAI Responses API (SSE).

Tests, benchmarks and the offline demo point a provider's `base_url` at it. Script answers per request::

    with Simulator() as sim:
        sim.enqueue(HttpError.server_error(), Reply.text("Hello!", deltas=5))
        sim.enqueue(Reply(output=[Reasoning(), FunctionCall("shell", '{"cmd":"ls"}')], cut_after=4))
        ...  # POST {sim.base_url}/responses
        sim.requests[-1].body["input"]

Modules: `script` (what to answer), `stream` (event shapes), `compaction` (input sizing and the three
compaction flavours), `handler` (one HTTP exchange), `server` (the `Simulator` itself).
`python -m server.simulator [--port N]` runs one standalone and prints its base URL.
"""

from server.simulator.compaction import decode_compaction
from server.simulator.script import FunctionCall, Garble, Gate, HttpError, Reasoning, Reply, Text, Usage
from server.simulator.server import RecordedRequest, Simulator

__all__ = [
    "FunctionCall",
    "Garble",
    "Gate",
    "HttpError",
    "Reasoning",
    "RecordedRequest",
    "Reply",
    "Simulator",
    "Text",
    "Usage",
    "decode_compaction",
]
