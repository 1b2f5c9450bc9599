"""👍/👎 feedback on answers, appended as JSON lines to one file ($RAG_FEEDBACK, else $RAG_HOME/feedback.jsonl).

Each record is written with one os.write of a complete line on a file opened with O_APPEND, under
a process-wide lock and an flock on the file, so concurrent votes, from any number of server
processes, never interleave or lose lines."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from embeddings.home import cache_dir

__all__ = ["feedback_path", "feedback_record", "append_feedback"]

_lock = threading.Lock()


def feedback_path() -> Path:
    """The default feedback file: $RAG_FEEDBACK, else feedback.jsonl in the cache directory ($RAG_HOME).
    Replicas on several machines point RAG_FEEDBACK at one shared file (appends are locked)."""
    return Path(os.environ.get("RAG_FEEDBACK") or cache_dir() / "feedback.jsonl")


def feedback_record(answer: Mapping[str, Any], vote: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The record of a vote ("up" or "down") on an answer (Answer.to_dict())."""
    return {
        "time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "question": answer["question"],
        "rewritten_question": answer["rewritten_question"],
        "answer": answer["text"],
        "citations": [
            {"number": c["number"], "law": c["law"], "article": c["article"], "doc_id": c["doc_id"]}
            for c in answer["citations"]
        ],
        "vote": vote,
    }


def append_feedback(record: Mapping[str, Any], path: Path | None = None) -> Path:
    """Append the record as one JSON line to the feedback file (default: feedback_path()); returns the file."""
    target = path or feedback_path()
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # other processes (replicas) append to the same file
            written = os.write(handle, line)
        finally:
            os.close(handle)
    if written != len(line):
        raise OSError(f"反馈只写入了 {written}/{len(line)} 字节：{target}")
    return target
