"""The index survives what happens to it on disk and in other processes: changed models and
chunking are detected at load, corrupt files are caught by checksum and rebuilt, a build killed
with SIGKILL at any stage leaves the previous index and the embedding cache usable and is resumed
by the next build, and two builds of the same index at once are serialised by its lock.

The subprocess tests use a hash-based stand-in for the embedding model by default (the build,
SQLite cache, FAISS files and lock are the real ones; only the vectors are fake), so that they
take seconds; the same tests with the real model are marked slow."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pytest

import rag.index.build as index_module
from embeddings.model import DEFAULT_MODEL, ModelSpec, load_embedder
from rag.errors import IndexUnavailable
from rag.index.build import build_index, encoded_texts, open_index
from rag.ingest.chunks import ChunkSettings

ROOT = Path(__file__).resolve().parents[2]
CHILD_SECONDS = 240  # a child that has not finished its part by then is killed and the test fails


class FakeEmbedder:
    """Deterministic unit vectors from a hash of each text; `delay` seconds per encoded batch
    keep a build inside encoding long enough to be killed there."""

    dim = 384
    backend, dtype = "fake", "float32"

    def __init__(self, spec: ModelSpec, delay: float = 0.0):
        self.spec = spec
        self.delay = delay
        self.fingerprint = "fake-" + hashlib.sha256(spec.name.encode()).hexdigest()[:8]

    def for_passages(self, count: int) -> "FakeEmbedder":
        return self

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        time.sleep(self.delay)
        return self._vectors(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[:8], "little") for t in texts]
        vectors = np.array([np.random.default_rng(s).standard_normal(self.dim) for s in seeds], dtype=np.float32)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).reshape(len(texts), self.dim)


def child_build(folder: str, out: str, fake: bool, stall: str) -> None:
    """Run in a subprocess: build the index, printing progress; stall ("write": staging written,
    "switch": CURRENT replaced) waits there for the parent's SIGKILL."""
    if fake:
        index_module.load_embedder = lambda spec: FakeEmbedder(spec, delay=0.05)

    def stalling(function):
        def wrapper(*args, **kwargs):
            function(*args, **kwargs)
            print("stalled", flush=True)
            time.sleep(CHILD_SECONDS)

        return wrapper

    if stall == "write":
        import rag.index.store

        rag.index.store.save_faiss = stalling(rag.index.store.save_faiss)
    elif stall == "switch":
        index_module.write_atomic = stalling(index_module.write_atomic)

    def progress(done: int, total: int) -> None:
        print(f"progress {done} {total} {time.time()}", flush=True)

    build_index([folder], out, commit_every=8, progress=progress)
    print(f"done {time.time()}", flush=True)


def _start(folder: Path, out: Path, *, fake: bool, stall: str = "") -> subprocess.Popen:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('hardening_index_child', {str(Path(__file__))!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"module.child_build({str(folder)!r}, {str(out)!r}, {fake!r}, {stall!r})\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _lines(process: subprocess.Popen) -> Iterator[str]:
    """The child's output lines; it is killed if it runs past CHILD_SECONDS."""
    timer = threading.Timer(CHILD_SECONDS, process.kill)
    timer.start()
    try:
        yield from (line.strip() for line in process.stdout)
    finally:
        timer.cancel()


def _cached(out: Path) -> int:
    with sqlite3.connect(out / "embeddings.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


@pytest.fixture
def laws(tmp_path, seed_path) -> Path:
    """A law folder holding the seed law's first chapter (9 chunks); tests put the whole law there for a second version."""
    folder = tmp_path / "laws"
    folder.mkdir()
    text = seed_path.read_text(encoding="utf-8")
    (folder / seed_path.name).write_text(text[: text.index("## 第二章")], encoding="utf-8")
    return folder


@pytest.fixture
def model(request, monkeypatch) -> bool:
    """Whether the builds use the stand-in model (in this process too, so that the fingerprints match)."""
    fake = request.param == "fake"
    if fake:
        monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec))
    else:
        request.getfixturevalue("seed_index")  # the real model converted into the session's RAG_HOME
    return fake


# --- Detected at load -------------------------------------------------------------------------


def test_changed_model_settings_are_detected_and_rebuilt(laws, tmp_path, monkeypatch):
    """A model with other prefixes (same name) gives other vectors; it used to pass as current."""
    monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec))
    out, _ = build_index([laws], tmp_path / "index")
    other = ModelSpec(passage_prefix="段落：")

    class Prefixed(FakeEmbedder):
        def __init__(self, spec: ModelSpec):
            super().__init__(spec)
            self.fingerprint += "-prefixed" if spec.passage_prefix else ""

    monkeypatch.setattr(index_module, "load_embedder", Prefixed)
    stale = open_index(out, model=other, rebuild=False)
    assert any("嵌入模型" in w and "rag index" in w for w in stale.warnings)
    fresh = open_index(out, model=other)
    assert fresh.warnings == [] and fresh.manifest["model"]["fingerprint"].endswith("-prefixed")


def test_a_model_that_cannot_be_loaded_is_a_clear_error_and_the_index_stays(laws, tmp_path, monkeypatch):
    """An unknown model name or path raised OSError (FileNotFoundError, or the hub's offline error)."""
    monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec) if spec.name == DEFAULT_MODEL else load_embedder(spec))
    out, _ = build_index([laws], tmp_path / "index")
    before = (out / "CURRENT").read_text()
    missing = ModelSpec(name=str(tmp_path / "no-such-model"))
    for rebuild in (False, True):
        with pytest.raises(IndexUnavailable, match="无法加载嵌入模型"):
            open_index(out, model=missing, rebuild=rebuild)
    assert (out / "CURRENT").read_text() == before
    assert open_index(out, rebuild=False).warnings == []


def test_changed_chunking_is_detected_and_rebuilt(laws, tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec))
    out, _ = build_index([laws], tmp_path / "index")
    finer = ChunkSettings(max_chars=40)
    assert any("切分设置已变" in w for w in open_index(out, chunking=finer, rebuild=False).warnings)
    rebuilt = open_index(out, chunking=finer)
    assert rebuilt.warnings == [] and len(rebuilt.chunks) > 9 and rebuilt.manifest["chunking"]["max_chars"] == 40


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # still valid JSON/FAISS framing in most places: only the checksum can tell
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate], ids=["flipped byte", "truncated"])
@pytest.mark.parametrize("name", ["chunks.jsonl", "laws.json", "vectors.faiss"])
def test_a_corrupt_index_file_is_caught_by_checksum_and_rebuilt(laws, tmp_path, monkeypatch, name, damage):
    monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec))
    out, _ = build_index([laws], tmp_path / "index")
    damage(out / (out / "CURRENT").read_text() / name)
    with pytest.raises(IndexUnavailable, match="损坏"):
        open_index(out, rebuild=False)
    rebuilt = open_index(out)
    assert rebuilt.warnings == [] and len(rebuilt.chunks) == 9 and rebuilt.store.size == 9


def test_a_corrupt_manifest_is_a_clear_error(laws, tmp_path, monkeypatch):
    """A truncated manifest.json raised json.JSONDecodeError out of open_index."""
    monkeypatch.setattr(index_module, "load_embedder", lambda spec: FakeEmbedder(spec))
    out, _ = build_index([laws], tmp_path / "index")
    _truncate(out / (out / "CURRENT").read_text() / "manifest.json")
    with pytest.raises(IndexUnavailable, match="索引清单损坏.*rag index"):
        open_index(out)


# --- Killed builds and concurrent builds --------------------------------------------------------


@pytest.mark.parametrize(
    "model, stage",
    [("fake", "encode"), ("fake", "write"), ("fake", "switch"), pytest.param("real", "encode", marks=pytest.mark.slow)],
    indirect=["model"],
)
def test_a_build_killed_mid_way_leaves_a_usable_index_and_resumes(laws, tmp_path, seed_path, model, stage):
    fake = model
    out, _ = build_index([laws], tmp_path / "index")
    before = (out / "CURRENT").read_text()
    shutil.copy(seed_path, laws / seed_path.name)  # the whole law: about 50 more chunks to encode

    process = _start(laws, out, fake=fake, stall="" if stage == "encode" else "write" if stage == "write" else "switch")
    first_done = None
    for line in _lines(process):
        if line.startswith("progress"):
            done = int(line.split()[1])
            first_done = done if first_done is None else first_done
            if stage == "encode" and done > first_done:
                break  # at least one batch committed, the next one being encoded
        elif line == "stalled":
            break
    else:
        pytest.fail(f"the build ended before it could be killed (exit {process.wait()})")
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    committed = _cached(out)  # the SQLite cache passes its integrity check
    assert committed > 9, "batches committed before the kill are kept"
    survivor = open_index(out, rebuild=False)
    if stage == "switch":
        assert (out / "CURRENT").read_text() != before and survivor.warnings == []
    else:
        assert (out / "CURRENT").read_text() == before
        assert survivor.store.size == 9 and any("已修改" in w for w in survivor.warnings)

    progress: list[tuple[int, int]] = []
    build_index([laws], out, progress=lambda done, total: progress.append((done, total)))
    assert progress[0][0] == committed and progress[-1][0] == progress[-1][1]  # resumed, then completed
    final = open_index(out, rebuild=False)
    assert final.warnings == [] and final.store.size == len(final.chunks) > 50
    assert [p.name for p in out.glob("v-*")] == [(out / "CURRENT").read_text()]
    assert list(out.glob(".v-*.partial")) == []


@pytest.mark.parametrize("model", ["fake", pytest.param("real", marks=pytest.mark.slow)], indirect=True)
def test_two_builds_at_once_are_serialised_and_leave_one_valid_index(laws, tmp_path, seed_path, model):
    fake = model
    shutil.copy(seed_path, laws / seed_path.name)
    out = tmp_path / "index"
    processes = [_start(laws, out, fake=fake) for _ in range(2)]
    spans = []
    for process in processes:
        lines = list(_lines(process))
        assert process.wait(timeout=30) == 0, "\n".join(lines[-20:])
        starts = [float(line.split()[3]) for line in lines if line.startswith("progress")]
        spans.append((starts[0], float(next(line for line in lines if line.startswith("done")).split()[1])))
    (first, first_end), (second, second_end) = sorted(spans)
    assert first_end <= second, f"the builds overlapped: {spans}"  # the lock held one back

    index = open_index(out, rebuild=False)
    assert index.warnings == [] and index.store.size == len(index.chunks) > 50
    assert [p.name for p in out.glob("v-*")] == [(out / "CURRENT").read_text()]
    assert list(out.glob(".v-*.partial")) == [] and _cached(out) == len(set(encoded_texts(index.chunks, index.chunking)[0]))
    manifest = json.loads((out / (out / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["chunks"] == len(index.chunks)
