"""The real local model, when it is installed: Qwen2.5-Coder-1.5B (GGUF) through llama-cpp-python answers a
question about the bundled law, cites the article that answers it and streams its text.

Skipped, with the reason, where llama-cpp-python is not installed (make llm) or the model is not
(rag llm install): CI does not download it. The model is looked for where `rag llm install` put it
before the test session moved RAG_HOME to a temporary folder, or at $RAG_TEST_GGUF."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from rag.answering.llm_models import llm_path

# read at import (collection), before the session fixture points RAG_HOME at a temporary folder
GGUF = Path(os.environ.get("RAG_TEST_GGUF") or llm_path("qwen2.5-coder-1.5b"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python 未安装（make llm）"),
    pytest.mark.skipif(not GGUF.is_file(), reason=f"本地模型未安装：{GGUF}（rag llm install）"),
]


def test_the_local_model_answers_from_the_article_and_streams(seed_index):
    from rag import answer, answer_stream

    spec = f"llamacpp:{GGUF}"
    result = answer("条例什么时候施行？", llm=spec)
    assert result.backend == f"llamacpp:{GGUF.name}" and not result.fell_back, result.warnings
    assert [c.article for c in result.citations] == ["第五十一条"]
    assert "2026年1月1日" in result.text and "[1]" in result.text

    *pieces, final = answer_stream("数据中心用电有什么支持政策？", llm=spec)
    assert all(isinstance(p, str) for p in pieces) and len(pieces) > 3
    assert final.stance == "answered" and final.citations
    assert final.fell_back or "".join(pieces) == final.text

    off_topic = answer("红烧肉怎么做？", llm=spec)
    assert off_topic.stance == "not_covered" and off_topic.backend == "extractive"  # the model was not asked
