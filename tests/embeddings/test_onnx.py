"""The ONNX Runtime backend, on a tiny random BERT saved as a sentence-transformers folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from embeddings import onnx_backend
from embeddings.model import Embedder, ModelSpec
from embeddings.onnx_backend import LAYOUT, WEIGHTS_FILE

ROOT = Path(__file__).resolve().parents[2]
PASSAGES = [
    "第二条　本条例适用于本省行政区域内大数据发展应用及其相关活动。",
    "数据安全责任由谁负责？",
    "Who enforces the regulation?",
    "第三条　" + "发展应用大数据应当遵循统筹规划、创新引领、政府引导、市场主导的原则。" * 20,
    "",
]


def _make_tiny_model(folder: Path, vocabulary_text: str, pooling: str | tuple[str, ...] = "mean") -> Path:
    """A random 2-layer BERT with a character-level tokenizer, saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():  # renamed in sentence-transformers 6; this name works in 5 and 6
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import models
    from tokenizers import Regex, Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for char in sorted(set(vocabulary_text + "".join(PASSAGES)) - set(" \n\t\u3000")):
        vocab.setdefault(char, len(vocab))
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    hf = folder.with_name(folder.name + "-hf")
    BertModel(config).save_pretrained(hf)
    fast.save_pretrained(hf)
    st = SentenceTransformer(
        modules=[models.Transformer(str(hf)), models.Pooling(32, pooling_mode=pooling), models.Normalize()],
        prompts={"query": "问：", "passage": "文："},
    )
    st.save(str(folder))
    shutil.rmtree(hf)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, seed_path) -> Path:
    return _make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed_path.read_text(encoding="utf-8"))


@pytest.fixture
def fresh(tiny, tmp_path) -> Path:
    """A copy of the tiny model without exports."""
    return Path(shutil.copytree(tiny, tmp_path / "model", ignore=shutil.ignore_patterns("onnx")))


def _exports(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "onnx" / LAYOUT).iterdir()) if (folder / "onnx" / LAYOUT).is_dir() else []


def test_export_matches_torch_and_is_reused(tiny, monkeypatch):
    torch_embedder = Embedder(ModelSpec(name=str(tiny), backend="torch"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback
        onnx = Embedder(ModelSpec(name=str(tiny), backend="onnx"))
    assert (onnx.backend, onnx.dtype, onnx.model) == ("onnx", "float32", None)
    # float32 vectors agree, so both backends share fingerprints (indexes, cached vectors)
    assert onnx.fingerprint == torch_embedder.fingerprint
    assert (onnx.query_prefix, onnx.passage_prefix, onnx.dim) == ("问：", "文：", 32)
    assert _exports(tiny) == [onnx.fingerprint]
    meta = json.loads((tiny / "onnx" / LAYOUT / onnx.fingerprint / "meta.json").read_text(encoding="utf-8"))
    assert meta["precision"] == "float32" and meta["opset"] == 17
    assert meta["min_cosine_to_torch"] >= 0.9999 and isinstance(meta["cpu_features"], list)
    assert not list((tiny / "onnx" / LAYOUT).glob(".*")), "work folders left behind"
    assert (tiny / "onnx" / LAYOUT / onnx.fingerprint / WEIGHTS_FILE).is_file(), "the weights are mapped, not in the graph file"

    for encode in ("encode_passages", "encode_queries"):
        a, b = getattr(onnx, encode)(PASSAGES), getattr(torch_embedder, encode)(PASSAGES)
        assert a.dtype == np.float32 and a.shape == (len(PASSAGES), 32)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        assert (a * b).sum(axis=1).min() >= 0.9999  # sorted into batches by length, returned in order
    assert np.allclose(onnx.encode_passages(PASSAGES, batch_size=2), onnx.encode_passages(PASSAGES), atol=1e-5)
    assert onnx.encode_queries([]).shape == (0, 32)

    monkeypatch.setattr(onnx_backend, "export", lambda *args: pytest.fail("exported again"))
    again = Embedder(ModelSpec(name=str(tiny), backend="onnx"))
    assert again.backend == "onnx" and again.fingerprint == onnx.fingerprint


def test_torch_float32_fingerprints_are_unchanged(tiny):
    key = f"{tiny}|问：|文：|256|32"
    assert Embedder(ModelSpec(name=str(tiny), backend="torch")).fingerprint == hashlib.sha256(key.encode()).hexdigest()[:16]


def test_an_export_that_disagrees_with_torch_is_refused(fresh, monkeypatch):
    monkeypatch.setattr(onnx_backend, "MIN_COSINE", 1.01)
    with pytest.warns(RuntimeWarning, match="ONNX 后端不可用.*余弦"):
        embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    assert (embedder.backend, embedder.dtype) == ("torch", "float32")
    assert embedder.encode_passages(PASSAGES[:2]).shape == (2, 32)
    assert _exports(fresh) == [], "a refused export must not be kept"


def test_a_corrupt_export_falls_back_to_torch(fresh):
    onnx = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    (fresh / "onnx" / LAYOUT / onnx.fingerprint / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.warns(RuntimeWarning, match="删除该目录即可重新导出"):
        embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    assert embedder.backend == "torch" and embedder.fingerprint == onnx.fingerprint


def test_int8_is_quantized_from_the_float32_export(tiny):
    fp32 = Embedder(ModelSpec(name=str(tiny), backend="onnx"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        int8 = Embedder(ModelSpec(name=str(tiny), backend="onnx", dtype="int8"))
    assert (int8.backend, int8.dtype) == ("onnx", "int8")
    assert int8.fingerprint != fp32.fingerprint
    assert int8.fingerprint in _exports(tiny) and fp32.fingerprint in _exports(tiny)
    meta = json.loads((tiny / "onnx" / LAYOUT / int8.fingerprint / "meta.json").read_text(encoding="utf-8"))
    assert meta["precision"] == "int8" and meta["quantized_from"] == fp32.fingerprint
    assert meta["cpu_features"] == list(onnx_backend.cpu_features())
    assert meta["reduce_range"] == ("avx2" in meta["cpu_features"] and not {"avx512_vnni", "avx_vnni"} & set(meta["cpu_features"]))
    a, b = int8.encode_passages(PASSAGES), fp32.encode_passages(PASSAGES)
    assert not np.array_equal(a, b)
    assert (a * b).sum(axis=1).min() > 0.95


def test_a_failed_quantization_keeps_float32(fresh, monkeypatch):
    def fail(*args):
        raise onnx_backend.OnnxUnavailable("量化器坏了")

    monkeypatch.setattr(onnx_backend, "quantize", fail)
    with pytest.warns(RuntimeWarning, match="int8 不可用.*量化器坏了"):
        embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx", dtype="int8"))
    assert (embedder.backend, embedder.dtype) == ("onnx", "float32")
    assert embedder.fingerprint == Embedder(ModelSpec(name=str(fresh), backend="torch")).fingerprint


@pytest.mark.parametrize(
    "pooling",
    [
        {"embedding_dimension": 32, "pooling_mode": "cls"},
        {"embedding_dimension": 32, "pooling_mode": ["mean", "max"]},
        {"embedding_dimension": 32, "pooling_mode": "weightedmean"},
        {"embedding_dimension": 32, "pooling_mode": "lasttoken"},
        # the format written before sentence-transformers 6
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_sqrt_len_tokens": True},
    ],
    ids=["cls", "mean+max", "weightedmean", "lasttoken", "legacy-mean_sqrt_len"],
)
def test_pooling_follows_the_folder(fresh, pooling):
    (fresh / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the export was verified against torch with this pooling
        onnx = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    reference = Embedder(ModelSpec(name=str(fresh), backend="torch"))
    assert onnx.backend == "onnx" and onnx.dim == reference.dim
    assert (onnx.encode_passages(PASSAGES) * reference.encode_passages(PASSAGES)).sum(axis=1).min() >= 0.9999


def _add_module(folder: Path, module, kind: str) -> None:
    """Append a sentence-transformers module (saved in its own folder) after the folder's Pooling."""
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))[:2]
    path = f"{len(modules)}_{kind}"
    (folder / path).mkdir()
    module.save(str(folder / path))
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": path, "type": f"sentence_transformers.models.{kind}"})
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")


def test_a_folder_with_dense_layers_is_exported_whole(fresh):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.models import Dense

    _add_module(fresh, Dense(in_features=32, out_features=16), "Dense")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to torch
        embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    reference = Embedder(ModelSpec(name=str(fresh), backend="torch"))
    assert embedder.backend == "onnx" and embedder.dim == 16 and embedder.fingerprint == reference.fingerprint
    meta = json.loads((fresh / "onnx" / LAYOUT / embedder.fingerprint / "meta.json").read_text(encoding="utf-8"))
    assert meta["exporter"] == "dynamo"
    assert (embedder.encode_passages(PASSAGES) * reference.encode_passages(PASSAGES)).sum(axis=1).min() >= 0.9999


def test_a_folder_with_other_modules_is_left_to_torch(fresh):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.models import LayerNorm

    _add_module(fresh, LayerNorm(32), "LayerNorm")
    with pytest.warns(RuntimeWarning, match="ONNX 后端不可用.*LayerNorm"):
        embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    assert embedder.backend == "torch" and embedder.encode_passages(PASSAGES[:1]).shape == (1, 32)


def test_an_unwritable_model_folder_exports_under_rag_home(fresh, rag_home, monkeypatch):
    import embeddings.model

    monkeypatch.setattr(embeddings.model.os, "access", lambda path, mode: False)
    embedder = Embedder(ModelSpec(name=str(fresh), backend="onnx"))
    assert embedder.backend == "onnx" and _exports(fresh) == []
    assert (rag_home / "onnx" / LAYOUT / embedder.fingerprint / "model.onnx").is_file()


def test_unsupported_backends_and_precisions_are_refused():
    with pytest.raises(ValueError, match="后端"):
        Embedder(ModelSpec(backend="tensorrt"))
    with pytest.raises(ValueError, match="torch 后端不支持的精度 'int8'"):
        Embedder(ModelSpec(dtype="int8", backend="torch"))
    with pytest.raises(ValueError, match="onnx 后端不支持的精度 'bfloat16'"):
        Embedder(ModelSpec(dtype="bfloat16"))  # the default backend is onnx


def test_cpu_features_are_read_from_cpuinfo():
    features = onnx_backend.cpu_features()
    assert set(features) <= set(onnx_backend.CPU_FEATURES)
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    assert ("avx2" in features) == ("avx2" in flags)


def test_backend_and_precision_round_trip_through_the_manifest(tiny, seed_path, tmp_path):
    from rag.index.build import build_index, open_index

    text = seed_path.read_text(encoding="utf-8")
    (tmp_path / "laws").mkdir()
    (tmp_path / "laws" / "law.md").write_text(text[: text.index("## 第二章")], encoding="utf-8")
    out, _ = build_index([tmp_path / "laws"], tmp_path / "index", model=ModelSpec(name=str(tiny), backend="onnx", dtype="int8"))
    manifest_file = out / (out / "CURRENT").read_text() / "manifest.json"
    built = json.loads(manifest_file.read_text(encoding="utf-8"))["model"]
    assert (built["backend"], built["dtype"]) == ("onnx", "int8")
    index = open_index(out, rebuild=False)
    assert (index.embedder.spec.backend, index.embedder.spec.dtype, index.embedder.backend) == ("onnx", "int8", "onnx")
    assert index.warnings == []

    # float32 with the onnx backend; a manifest written before backends existed means torch float32,
    # whose fingerprint is the same, so the index is current either way
    out, _ = build_index([tmp_path / "laws"], tmp_path / "index", model=ModelSpec(name=str(tiny), backend="onnx"))
    manifest_file = out / (out / "CURRENT").read_text() / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    assert (manifest["model"]["backend"], manifest["model"]["dtype"]) == ("onnx", "float32")
    del manifest["model"]["backend"], manifest["model"]["dtype"]
    manifest_file.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    old = open_index(out, rebuild=False)
    assert (old.embedder.spec.backend, old.embedder.spec.dtype) == ("torch", "float32")
    assert old.warnings == []


def test_the_onnx_query_path_imports_no_torch(tiny, rag_home):
    Embedder(ModelSpec(name=str(tiny), backend="onnx"))  # the export exists from here on
    script = f"""
import sys, warnings
warnings.simplefilter("error")
from embeddings.model import Embedder, ModelSpec
embedder = Embedder(ModelSpec(name={str(tiny)!r}, backend="onnx"))
assert embedder.backend == "onnx"
assert embedder.encode_queries(["数据安全责任由谁负责？"]).shape == (1, 32)
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"RAG_HOME": str(rag_home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
