"""The conversation the browser keeps (gr.BrowserState) comes back from the client: whatever it
holds, restoring it must not break the page or the questions that follow."""

from __future__ import annotations

import pytest

import ui.app as app
from rag import answer

MODE = next(iter(app.ANSWER_MODES))


def _ask(question: str, turns: list[dict]) -> dict:
    """The new turn after asking in the chat (streamed without pauses)."""
    *_, final = app.respond(question, turns, 5, MODE, [])
    return final[1][-1]


@pytest.fixture(autouse=True)
def _no_stream_pause(monkeypatch):
    monkeypatch.setattr(app, "STREAM_PAUSE", 0)


@pytest.fixture(scope="module")
def saved_turn(seed_index) -> dict:
    data = answer("条例什么时候施行？").to_dict()
    return {"question": data["question"], "answer": data, "error": ""}


def test_a_turn_saved_by_an_older_version_is_dropped_not_fatal(saved_turn):
    """A saved answer without the newer fields (backend, fell_back) was restored, then made every
    later question in that browser fail with 内部错误 (KeyError while rebuilding the history)."""
    old = {**saved_turn, "answer": {k: v for k, v in saved_turn["answer"].items() if k not in ("backend", "fell_back")}}
    turns, *_ = app.restore([saved_turn, old])
    assert turns == [saved_turn]
    turn = _ask("那违反了怎么处罚？", turns)
    assert turn["error"] == "" and turn["answer"]["rewritten_question"]


JUNK = [
    {"question": "q", "answer": {"text": "x"}, "error": ""},
    {"question": "q", "answer": {"question": "q", "text": 5, "citations": [{"number": 1}]}, "error": ""},
    {"question": "q", "answer": "not a dict", "error": ""},
    {"question": "q", "answer": None, "error": None},
    {"question": 3, "answer": None, "error": "x"},
    ["not", "a", "turn"],
]


def test_junk_in_browser_storage_is_dropped(saved_turn):
    turns, *_ = app.restore([*JUNK, saved_turn])
    assert turns == [saved_turn]
    assert _ask("第十五条讲了什么？", turns)["error"] == ""
