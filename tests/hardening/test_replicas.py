"""Replicas: two `rag serve` processes answer from one Milvus index (a Milvus Lite server, the real
engine, on loopback), and 2 × 10 concurrent sessions get the answers one sequential session gets."""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from rag import answer
from rag.index.build import build_index
from rag.index.store import StoreSpec
from tests.app_process import CLI, free_port, milvus_lite_server, running_app

QUESTIONS = [
    "条例什么时候施行？",
    "数据中心用电有什么支持政策？",
    "第十五条讲了什么？",
    "这部条例是谁制定的？",
    "公共数据怎么开放？",
    "贵阳市地铁几点停运？",
    "违反条例会被罚款吗？",
]
SESSIONS_PER_REPLICA = 10


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, seed_path, rag_home) -> Iterator[tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("replicas")
    with milvus_lite_server(root / "milvus", root / "milvus.log") as uri:
        index_dir, _ = build_index([seed_path], root / "index", store=StoreSpec(kind="milvus", milvus_uri=uri))
        env = {**os.environ, "RAG_HOME": str(rag_home), "PYTHONUNBUFFERED": "1"}
        with contextlib.ExitStack() as stack:
            urls = []
            for replica in range(2):
                port = free_port()
                command = [sys.executable, "-c", CLI, "serve", "--port", str(port), "--index", str(index_dir)]
                urls.append(stack.enter_context(running_app(command, env, port, root / f"serve-{replica}.log", 300)))
            yield index_dir, urls


def _answered(url: str, questions: list[str]) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    results = [client.predict(q, 5, api_name="/ask") for q in questions]
    return [(r["question"], r["text"], r["abstained"], [(c["law"], c["article"]) for c in r["citations"]]) for r in results]


@pytest.mark.slow
def test_two_replicas_on_one_milvus_index_answer_like_one_sequential_session(replicas):
    index_dir, urls = replicas
    sequential = {}
    for question in QUESTIONS:
        result = answer(question, index=index_dir)
        sequential[question] = (question, result.text, result.abstained, [(c.law, c.article) for c in result.citations])
    assert any(not abstained for _, _, abstained, _ in sequential.values()) and any(a for _, _, a, _ in sequential.values())
    plans = [(urls[s % 2], [QUESTIONS[(s + i) % len(QUESTIONS)] for i in range(2)]) for s in range(2 * SESSIONS_PER_REPLICA)]
    with ThreadPoolExecutor(len(plans)) as pool:
        outcomes = list(pool.map(lambda plan: _answered(*plan), plans))
    for (_, questions), outcome in zip(plans, outcomes):
        assert outcome == [sequential[q] for q in questions]
