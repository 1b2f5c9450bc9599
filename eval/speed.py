"""`make bench`, first part: the query path's speed for each encoder backend, written to docs/speed.md.

Ratios are to a plain sentence-transformers encode of the same question in the same process, timed
interleaved (each question: the plain encode, then every backend's retrieve() and answer()), so a
busy machine slows numerator and denominator alike. Each ratio is the median over rounds of the
per-round medians, with the rounds' min–max. Cold start is a fresh `rag ask` per backend (wall time
and peak RSS, the median of three); serve start is `rag serve` from launch to its first answer."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main", "Variant", "VARIANTS"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Variant:
    backend: str
    dtype: str

    @property
    def name(self) -> str:
        return f"{self.backend} {self.dtype}"


VARIANTS = (Variant("torch", "float32"), Variant("onnx", "float32"), Variant("onnx", "int8"))
QUESTIONS = [
    "条例什么时候施行？",
    "数据中心用电有什么支持政策？",
    "第十五条讲了什么？",
    "公共数据怎么开放？",
    "违反条例会被罚款吗？",
    "政府会给大数据企业用地方面的支持吗？",
    "这部条例是谁制定的？",
    "What does the regulation say about data security?",
]


def build_variants(laws: Path, root: Path) -> dict[Variant, Path]:
    from embeddings.model import ModelSpec
    from rag.index import build_index

    return {v: build_index([laws], root / v.name.replace(" ", "-"), model=ModelSpec(backend=v.backend, dtype=v.dtype))[0] for v in VARIANTS}


def _ratios(samples: dict[str, list[list[float]]], reference: str) -> dict[str, tuple[float, float, float, float]]:
    """op → (median ms, median ratio, min ratio, max ratio) over rounds."""
    out = {}
    base = [statistics.median(r) for r in samples[reference]]
    for op, rounds in samples.items():
        medians = [statistics.median(r) for r in rounds]
        ratios = [m / b for m, b in zip(medians, base)]
        out[op] = (statistics.median(medians), statistics.median(ratios), min(ratios), max(ratios))
    return out


def interleaved(indexes: dict[str, Path], rounds: int, repeats: int) -> dict[str, tuple[float, float, float, float]]:
    """Per operation, in ms and as a ratio to the plain encode; `indexes`: label → index directory."""
    from sentence_transformers import SentenceTransformer

    import rag

    reference_index = rag.get_index(next(iter(indexes.values())))
    plain = SentenceTransformer(str(reference_index.embedder.model_path), device="cpu")
    plain.max_seq_length = reference_index.embedder.spec.max_seq_length
    prefix = reference_index.embedder.query_prefix
    for path in indexes.values():
        rag.answer(QUESTIONS[0], index=path)  # loaded and warm before timing
    plain.encode([prefix + QUESTIONS[0]])
    samples: dict[str, list[list[float]]] = {}

    def timed(op: str, run) -> None:
        started = time.perf_counter()
        run()
        samples.setdefault(op, [[] for _ in range(rounds)])[current].append(1000 * (time.perf_counter() - started))

    for current in range(rounds):
        for _ in range(repeats):
            for question in QUESTIONS:
                timed("sentence-transformers encode", lambda: plain.encode([prefix + question]))
                for label, path in indexes.items():
                    timed(f"retrieve() {label}", lambda: rag.retrieve(question, k=5, index=path))
                    timed(f"answer() {label}", lambda: rag.answer(question, index=path))
    return _ratios(samples, "sentence-transformers encode")


_MEASURED_ASK = """
import atexit, runpy, sys
def peak():  # VmHWM starts afresh at exec; the parent's rusage would count the pages a fork shares
    kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    sys.stderr.write(f"VmHWM {kb}\\n")
atexit.register(peak)
sys.argv = ["rag", *sys.argv[1:]]
runpy.run_module("rag.cli", run_name="__main__")
"""


def cold_start(index: Path, question: str = QUESTIONS[0]) -> tuple[float, float]:
    """(wall s, peak RSS MB) of a fresh `rag ask` on the index."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED_ASK, "ask", question, "--index", str(index)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    return wall, int(result.stderr.rsplit("VmHWM ", 1)[1].split()[0]) / 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_start(index: Path, question: str = QUESTIONS[0], timeout: float = 300) -> float:
    """Seconds from launching `rag serve` to its first answer through the API."""
    from gradio_client import Client

    port = _free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--index", str(index)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < timeout:
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False).predict(question, 5, api_name="/ask")
                return time.perf_counter() - started
            except Exception:  # not up yet: gradio_client raises several kinds
                time.sleep(0.2)
        raise RuntimeError("rag serve did not answer in time")
    finally:
        process.terminate()
        process.wait(timeout=30)


def recall_rows(reports: list[str]) -> list[str]:
    """Rows of label | set | R@10 | R@100 | MRR@10 (hybrid and dense) from `label=report.json` pairs."""
    rows = []
    for item in reports:
        label, path = item.split("=", 1)
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        for config in report["configs"]:
            if config["name"] in ("dense", "hybrid"):
                m = config["summary"]["metrics"]
                rows.append(f"| {label} | {config['name']} | {m['recall@1']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    from embeddings.onnx_backend import cpu_features
    from eval.benchmark import _machine

    parser = argparse.ArgumentParser(description="查询路径的速度（各编码后端），写入 docs/speed.md")
    parser.add_argument("--laws", default=str(ROOT / "data" / "laws"), help="建临时索引的法规（默认：内置条例）")
    parser.add_argument("--rounds", type=int, default=5, help="交替计时的轮数")
    parser.add_argument("--repeats", type=int, default=3, help="每轮每个问题的次数")
    parser.add_argument("--recall", action="append", default=[], metavar="标签=report.json", help="各后端的 rag eval 报告（可重复）")
    parser.add_argument("--out", default="docs/speed.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        indexes = {v.name: path for v, path in build_variants(Path(args.laws), Path(tmp)).items()}
        cold = {label: [cold_start(path) for _ in range(3)] for label, path in indexes.items()}
        serve = {label: serve_start(path) for label, path in indexes.items()}
        timings = interleaved(indexes, args.rounds, args.repeats)
    lines = [
        "# 查询路径的速度",
        "",
        f"机器：{_machine()}；CPU 指令集：{', '.join(cpu_features()) or '（未检测到）'}。命令：`make bench`（{time.strftime('%Y-%m-%d')}）。",
        f"内置条例的索引，{len(QUESTIONS)} 个问题 × {args.repeats} 次 × {args.rounds} 轮，同一进程内交替计时；比值是各轮中位数之比的中位数（括号内为各轮的最小–最大）。",
        "",
        "| 操作 | p50 | 与 sentence-transformers 编码之比 |",
        "|---|---|---|",
        *(f"| {op} | {ms:.1f} ms | {ratio:.2f}（{low:.2f}–{high:.2f}） |" for op, (ms, ratio, low, high) in timings.items()),
        "",
        "| 后端 | 冷启动 `rag ask`（墙钟） | 峰值内存 | `rag serve` 启动到第一个回答 |",
        "|---|---|---|---|",
        *(
            f"| {label} | {statistics.median(w for w, _ in runs):.1f} s | {statistics.median(r for _, r in runs):.0f} MB | {serve[label]:.1f} s |"
            for label, runs in cold.items()
        ),
    ]
    if args.recall:
        lines += ["", "| 后端与索引 | 配置 | Recall@1 | Recall@10 | Recall@100 | MRR@10 |", "|---|---|---|---|---|---|", *recall_rows(args.recall)]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
