"""Feedback records: one complete JSON line per vote, even when many threads vote at once."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

from ui.feedback import append_feedback, feedback_path, feedback_record

ANSWER = {
    "question": "那违反了怎么处罚？",
    "rewritten_question": "条例什么时候施行，违反了怎么处罚？",
    "text": "根据《贵州省大数据发展应用促进条例》第四十九条，违反本条例规定的行为，法律、行政法规有处罚规定的，从其规定。[1]",
    "citations": [
        {"number": 1, "law": "贵州省大数据发展应用促进条例", "article": "第四十九条", "doc_id": "d1", "text": "…", "quote": "…",
         "score": 1.0, "path": ["第八章 法律责任"], "url": ""},
    ],
    "passages": [],
    "abstained": False,
}


def test_feedback_path_follows_rag_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    assert feedback_path() == tmp_path / "feedback.jsonl"


def test_feedback_record_has_time_question_answer_citations_and_vote():
    record = feedback_record(ANSWER, "down", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert record == {
        "time": "2026-01-02T03:04:05+00:00",
        "question": "那违反了怎么处罚？",
        "rewritten_question": "条例什么时候施行，违反了怎么处罚？",
        "answer": ANSWER["text"],
        "citations": [{"number": 1, "law": "贵州省大数据发展应用促进条例", "article": "第四十九条", "doc_id": "d1"}],
        "vote": "down",
    }


def test_append_feedback_writes_one_utf8_json_line_per_record(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    first = append_feedback(feedback_record(ANSWER, "up"))
    second = append_feedback(feedback_record(ANSWER, "down"))
    assert first == second == tmp_path / "home" / "feedback.jsonl"
    raw = first.read_text(encoding="utf-8")
    assert "违反" in raw  # not \u escapes
    assert [json.loads(line)["vote"] for line in raw.splitlines()] == ["up", "down"]


def test_concurrent_appends_neither_interleave_nor_lose_lines(tmp_path):
    target = tmp_path / "feedback.jsonl"
    threads, per_thread = 16, 40
    filler = "条文" * 3000  # ~18 KB lines: large enough that unsynchronised writes would interleave

    def vote(worker: int) -> None:
        for i in range(per_thread):
            append_feedback({"worker": worker, "i": i, "filler": filler}, target)

    workers = [threading.Thread(target=vote, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    lines = Path(target).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == threads * per_thread
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(threads) for i in range(per_thread)}
    assert all(r["filler"] == filler for r in records)
