"""Votes written by several server processes (and threads in each) to one feedback file are
neither interleaved nor lost, large records included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, RECORDS = 4, 3, 25

WRITER = """
import sys, threading
from pathlib import Path
from ui.feedback import append_feedback

target, process, threads, records = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start = threading.Barrier(threads)

def write(thread):
    start.wait()
    for i in range(records):
        size = 200_000 if i % 10 == 0 else 2_000  # some records far beyond a pipe buffer or a page
        append_feedback({"writer": f"{process}.{thread}", "i": i, "answer": "条" * size, "vote": "up"}, target)

workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


def test_concurrent_processes_and_threads_append_whole_lines(tmp_path):
    target = tmp_path / "feedback.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(p), str(THREADS), str(RECORDS)], cwd=ROOT, env=env)
        for p in range(PROCESSES)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0] * PROCESSES
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends with a complete line"
    records = [json.loads(line) for line in lines[:-1]]  # an interleaved line would not parse
    seen = sorted((r["writer"], r["i"]) for r in records)
    expected = sorted((f"{p}.{t}", i) for p in range(PROCESSES) for t in range(THREADS) for i in range(RECORDS))
    assert seen == expected, "every record exactly once"
    assert all(len(r["answer"]) in (2_000, 200_000) for r in records)
