"""Tiny models and wheels made in the tests: a random Gemma 3 sentence-transformers folder shaped like
EmbeddingGemma (Transformer → mean Pooling → Dense → Dense → Normalize, "query"/"document" prompts), and
wheels that carry the pieces of a file as embeddings.pieces expects them on PyPI."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import pytest

GEMMA_PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: "}
TEXTS = [
    "第二条　本条例适用于本省行政区域内大数据发展应用及其相关活动。",
    "数据安全责任由谁负责？",
    "Who enforces the regulation?",
    "第三条　" + "发展应用大数据应当遵循统筹规划、创新引领、政府引导、市场主导的原则。" * 20,
]


def make_tiny_gemma(folder: Path, vocabulary_text: str = "") -> Path:
    """A random 2-layer Gemma 3 text encoder (bidirectional, one sliding-window layer) with a character
    tokenizer, 32-d, two Dense layers after mean pooling, saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():  # renamed in sentence-transformers 6; this name works in 5 and 6
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import models
    from tokenizers import Regex, Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import Gemma3TextConfig, Gemma3TextModel, PreTrainedTokenizerFast

    from embeddings.onnx_backend import CHECK_TEXTS

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    text = vocabulary_text + "".join(TEXTS) + "".join(CHECK_TEXTS) + "".join(GEMMA_PROMPTS.values())
    for char in sorted(set(text) - set(" \n\t\u3000")):
        vocab.setdefault(char, len(vocab))
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=512, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], use_bidirectional_attention=True,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    hf = folder.with_name(folder.name + "-hf")
    Gemma3TextModel(config).save_pretrained(hf)
    fast.save_pretrained(hf)
    st = SentenceTransformer(
        modules=[
            models.Transformer(str(hf)),
            models.Pooling(32, pooling_mode="mean"),
            models.Dense(32, 64, bias=False, activation_function=torch.nn.Identity()),
            models.Dense(64, 32, bias=False, activation_function=torch.nn.Identity()),
            models.Normalize(),
        ],
        prompts=dict(GEMMA_PROMPTS),
    )
    st.save(str(folder))
    shutil.rmtree(hf)
    return folder


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory, seed_path) -> Path:
    return make_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma") / "model", seed_path.read_text(encoding="utf-8"))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    """A real (pure-Python) wheel of package==version holding `files` (paths inside the wheel), with its
    dist-info: METADATA, WHEEL and RECORD."""
    name = re.sub(r"[-_.]+", "_", package).lower()
    info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in contents.items()) + f"{info}/RECORD,,\n"
    contents[f"{info}/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def zip_folder(folder: Path, prefix: str) -> bytes:
    """The files of folder as a zip, under prefix/ (as the EmbeddingGemma zip holds model_download/)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def wheel_factory():
    """make_wheel, for the tests of this folder."""
    return make_wheel


@pytest.fixture(scope="session")
def zip_factory():
    """zip_folder, for the tests of this folder."""
    return zip_folder
