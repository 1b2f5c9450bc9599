"""The questions' SentencePiece tokenizer: the same ids as the model's tokenizer.json, derived and
verified once per export, refused where it cannot be, never the passages' tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from embeddings import onnx_backend
from embeddings.query_tokenizer import QUERY_TOKENIZER_FILE, QueryTokenizer, write_query_tokenizer

from .test_onnx import _make_tiny_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def encoder(seed_index) -> onnx_backend.OnnxEncoder:
    onnx = seed_index.embedder._onnx
    assert onnx is not None, "the default index encodes with ONNX"
    return onnx


def _questions() -> list[str]:
    texts = []
    for path in sorted((ROOT / "eval" / "questions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts += [record["question"]] if "question" in record else [turn["question"] for turn in record["turns"]]
    return texts


def test_the_default_models_questions_get_the_original_ids(encoder):
    assert encoder.queries is not None
    questions = ["query: " + q for q in _questions()]
    assert len(questions) > 1500
    assert encoder.queries.ids(questions) == encoder.tokenize(questions)


@pytest.mark.parametrize(
    "text",
    ["query: 结尾有空格的问题 ", " ", "\t", "query: 字面的 <s> 与 </s>", "", "query: " + "很长的问题" * 200, "ＡＢＣ１２３（全角）"],
)
def test_edge_cases_get_the_original_ids_too(encoder, text):
    assert encoder.queries.ids([text]) == encoder.tokenize([text])


def test_only_texts_it_may_read_differently_go_to_the_original(encoder):
    asked: list[str] = []

    def original(texts):
        asked.extend(texts)
        return encoder.tokenize(texts)

    queries = QueryTokenizer.load(encoder.export_dir, encoder.max_seq_length, original)
    queries.ids(["query: 普通的问题？", "query: 结尾有空格 ", "query: <s>"])
    assert asked == ["query: 结尾有空格 ", "query: <s>"]


def test_the_question_path_never_loads_the_tokenizer_json(encoder, rag_home):
    fresh = onnx_backend.OnnxEncoder(encoder.export_dir, encoder.layout, encoder.max_seq_length)
    vectors = fresh.encode(["query: 条例什么时候施行？"], batch_size=1, queries=True)
    assert fresh._tokenizer is None and vectors.shape == (1, encoder.layout.dim)
    fresh.encode(["passage: 第一条"], batch_size=1)
    assert fresh._tokenizer is not None, "passages use the model's own tokenizer.json"


def test_a_derivation_that_disagrees_is_refused_and_not_retried(encoder, tmp_path):
    def shifted(texts):
        return [[i + 1 for i in ids] for ids in encoder.tokenize(texts)]

    def derive(folder: Path, reference) -> bool:
        return write_query_tokenizer(encoder.layout.tokenizer_file, folder, reference, ["query: 数据安全"], encoder.max_seq_length, encoder.layout.pad_token)

    refused, agreed = tmp_path / "refused", tmp_path / "agreed"
    refused.mkdir(), agreed.mkdir()
    assert not derive(refused, shifted) and not (refused / QUERY_TOKENIZER_FILE).exists()
    assert not derive(refused, encoder.tokenize), "refused once, not derived again"
    assert derive(agreed, encoder.tokenize) and (agreed / QUERY_TOKENIZER_FILE).is_file()


def test_a_word_level_tokenizer_keeps_its_own(tmp_path, seed_path):
    model = _make_tiny_model(tmp_path / "model", seed_path.read_text(encoding="utf-8"))
    from embeddings.model import Embedder, ModelSpec

    embedder = Embedder(ModelSpec(name=str(model), backend="onnx"))
    assert embedder.backend == "onnx" and embedder._onnx.queries is None
    export = next((model / "onnx" / onnx_backend.LAYOUT).iterdir())
    assert not (export / QUERY_TOKENIZER_FILE).exists() and (export / "query_tokenizer.refused").exists()
    assert embedder.encode_queries(["数据安全责任由谁负责？"]).shape == (1, 32)
    shutil.rmtree(model)
