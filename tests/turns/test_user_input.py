"""What the model receives for each kind of user input, and a local image read off the event loop."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol._generated.types import (
    ImageUserInput,
    LocalImageUserInput,
    MentionUserInput,
    SkillUserInput,
    TextUserInput,
)
from server.sessions import convert
from server.sessions.convert import input_message
from server.simulator import Reply, Simulator
from tests.harness import SIM_ENV, running_server, sim_overrides

PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
PIXEL_URL = "data:image/png;base64," + base64.b64encode(PIXEL).decode()


def _dot_on_disk(tmp_path: Path) -> str:
    (tmp_path / "dot.png").write_bytes(PIXEL)
    return str(tmp_path / "dot.png")


def _before_each_read(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    """Run `hook` in whatever thread reads a local image, just before it reads."""
    read = convert._local_image

    def hooked(*args: Any) -> dict[str, Any]:
        hook()
        return read(*args)

    monkeypatch.setattr(convert, "_local_image", hooked)


def test_text_and_remote_images_pass_through_as_input_parts() -> None:
    message = input_message([TextUserInput(text="look"), ImageUserInput(url="https://example.test/a.png"),
                             ImageUserInput(file_id="file_123", detail="high")])
    assert message == {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "detail": "auto", "image_url": "https://example.test/a.png"},
        {"type": "input_image", "detail": "high", "file_id": "file_123"}]}


def test_a_local_image_goes_as_a_data_url_of_its_bytes(tmp_path: Path) -> None:
    [part] = input_message([LocalImageUserInput(path=_dot_on_disk(tmp_path))])["content"]
    assert part == {"type": "input_image", "detail": "auto", "image_url": PIXEL_URL}


def test_a_local_image_that_cannot_be_read_becomes_a_note_naming_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "big.jpg").write_bytes(b"\xff" * 64)
    monkeypatch.setattr(convert, "_MAX_LOCAL_IMAGE", 32)
    missing, too_big = (str(tmp_path / "missing.png"), str(tmp_path / "big.jpg"))
    parts = input_message([LocalImageUserInput(path=missing), LocalImageUserInput(path=too_big)])["content"]
    assert parts == [{"type": "input_text", "text": f"[image at {missing} could not be read]"},
                     {"type": "input_text", "text": f"[image at {too_big} could not be read]"}]


def test_a_local_image_path_that_is_not_a_regular_file_becomes_a_note_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # a read would wait for a writer forever; opening it read-only must not either
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer end, so opening it for reading does not wait
    try:
        [part] = input_message([LocalImageUserInput(path=str(fifo))])["content"]
    finally:
        os.close(fd)
    assert part == {"type": "input_text", "text": f"[image at {fifo} could not be read]"}


def test_skills_and_mentions_reach_the_model_as_text() -> None:
    parts = input_message([SkillUserInput(name="deploy", path="/skills/deploy"),
                           MentionUserInput(name="notes", path="app://notes")])["content"]
    assert [part["text"] for part in parts] == ["[use skill deploy (/skills/deploy)]", "[mentioned notes (app://notes)]"]


@pytest.mark.anyio
async def test_a_turn_sends_a_local_image_read_outside_the_event_loop(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    read_in: list[bool] = []
    _before_each_read(monkeypatch, lambda: read_in.append(threading.current_thread() is threading.main_thread()))
    image = {"type": "localImage", "path": _dot_on_disk(tmp_path)}
    with Simulator() as sim:
        sim.enqueue(Reply.text("a single dot"))
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": [image]}, timeout=10)
            assert turn["status"] == "completed"
            [user] = [e["params"]["item"] for e in events
                      if e["method"] == "item/completed" and e["params"]["item"]["type"] == "userMessage"]
            assert user["content"] == [{"type": "localImage", "path": image["path"], "detail": None}]
        [request] = sim.requests_to("responses")
        sent = request.body["input"][-1]["content"]
        assert sent == [{"type": "input_image", "detail": "auto", "image_url": PIXEL_URL}]
        assert read_in == [False]  # read in a worker thread: the loop every stream shares never waited on it


@pytest.mark.anyio
async def test_an_interrupt_while_a_local_image_is_read_keeps_the_input(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reading, go_on = threading.Event(), threading.Event()

    def slow() -> None:
        reading.set()
        go_on.wait(10)

    _before_each_read(monkeypatch, slow)
    image = {"type": "localImage", "path": _dot_on_disk(tmp_path)}
    with Simulator() as sim:
        sim.enqueue(Reply.text("still there"))
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": [image]}))["turn"]["id"]
            events = h.client.turn_events(turn_id, timeout=10)
            assert await anyio.to_thread.run_sync(reading.wait, 10)
            async with anyio.create_task_group() as tg:
                tg.start_soon(h.client.request, "turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
                await anyio.wait_all_tasks_blocked()
                go_on.set()
            seen = [event async for event in events]
            assert seen[-1]["params"]["turn"]["status"] == "interrupted"
            kinds = [e["params"]["item"]["type"] for e in seen if e["method"] == "item/completed"]
            assert kinds == ["userMessage"]  # announced, so it is in the history as well:
            await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "and now?"}]})
        [request] = sim.requests_to("responses")
        assert [item["content"][0]["type"] for item in request.body["input"] if item.get("role") == "user"] == [
            "input_image", "input_text"]
