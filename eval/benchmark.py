"""`make bench`, second part: speed and size of the whole-library pipeline, written to docs/benchmarks.md
(the encoder backends side by side are eval/speed.py's).

Each figure is the median of repeated runs; the machine is noisy, so ratios matter more than
absolute numbers."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.onnx_backend import cpu_features

__all__ = ["main"]


@dataclass
class FaissRow:
    kind: str
    build_s: float
    size_mb: float
    search_ms: float
    recall_vs_flat: float


def _median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}，{os.cpu_count()} 核，{memory:.0f} GiB 内存，Python {platform.python_version()}"


@dataclass
class EncodeRates:
    """Articles per second on the same random laws."""

    sentence_transformers: float  # plain SentenceTransformer.encode, float32: the baseline of the ratio
    default_encoder: float  # the query encoder (ONNX Runtime float32) encoding the same article texts
    build: float  # build_index from files to a written index (sentences too), empty cache
    passages: str  # what the build encoded with (a bfloat16 twin where the CPU has native bf16)


def encode_rates(library: Path, sample: int, repeats: int) -> EncodeRates:
    from embeddings.model import ModelSpec, load_embedder
    from rag.index import build_index
    from rag.ingest import chunk_laws, embed_text, law_files, load_laws

    files = law_files([library])
    random.Random(7).shuffle(files)
    chosen, count = [], 0
    for path in files:
        laws, _ = load_laws([path])
        if laws:
            chosen.append(path)
            count += len(chunk_laws(laws))
        if count >= sample:
            break
    laws, _ = load_laws(chosen)
    texts = [embed_text(c) for c in chunk_laws(laws)]
    plain = load_embedder(ModelSpec(backend="torch"))  # SentenceTransformer.encode with the model's own prefix
    plain_s = _median_time(lambda: plain.encode_passages(texts), repeats)
    embedder = load_embedder()
    raw = _median_time(lambda: embedder.encode_passages(texts), repeats)
    manifests = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "laws"
        folder.mkdir()
        for path in chosen:
            (folder / path.name).write_bytes(path.read_bytes())

        def build() -> None:
            out, _ = build_index([folder], Path(tempfile.mkdtemp(dir=tmp)))
            manifests.append(json.loads((out / (out / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8")))

        built = _median_time(build, repeats)
    passages = "、".join(f"{p['backend']} {p['dtype']}" for p in manifests[-1]["model"]["passages"])
    return EncodeRates(len(texts) / plain_s, len(texts) / raw, len(texts) / built, passages)


def faiss_table(index_dir: Path, queries: list[str], repeats: int) -> list[FaissRow]:
    import faiss

    from rag import get_index
    from rag.index import build_faiss

    loaded = get_index(index_dir)
    vectors = loaded.store.vectors.reconstruct_n(0, loaded.store.size)
    query_vectors = loaded.embedder.encode_queries(queries)
    _, truth = build_faiss(vectors, "flat").search(query_vectors, 10)
    rows = []
    for kind in ("flat", "hnsw", "ivf"):
        started = time.perf_counter()
        index = build_faiss(vectors, kind)
        build_s = time.perf_counter() - started
        with tempfile.NamedTemporaryFile(suffix=".faiss") as handle:
            faiss.write_index(index, handle.name)
            size_mb = os.path.getsize(handle.name) / 2**20
        search_ms = 1000 * _median_time(lambda: [index.search(q[None, :], 10) for q in query_vectors], repeats) / len(queries)
        _, found = index.search(query_vectors, 10)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
        rows.append(FaissRow(kind, build_s, size_mb, search_ms, recall))
    return rows


def serving_figures(index_dir: Path, questions: list[str]) -> dict[str, float]:
    """Load time, retrieve/answer p50/p95 and peak RSS, measured in a fresh process."""
    code = f"""
import json, sys, time
def hwm_kb():
    # VmHWM starts afresh at exec; ru_maxrss would carry over the benchmark parent's peak
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
started = time.perf_counter()
from rag import answer, get_index, retrieve
get_index({str(index_dir)!r})
load = time.perf_counter() - started
questions = json.loads(sys.stdin.read())
def timed(fn):
    out = []
    for q in questions:
        t = time.perf_counter(); fn(q, index={str(index_dir)!r}); out.append(1000 * (time.perf_counter() - t))
    return sorted(out)
r = timed(retrieve); a = timed(answer)
pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
print(json.dumps({{"load_s": load, "retrieve_p50": pct(r, .5), "retrieve_p95": pct(r, .95),
  "answer_p50": pct(a, .5), "answer_p95": pct(a, .95),
  "rss_mb": hwm_kb() / 1024}}))
"""
    import json

    result = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(questions), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="整库基准测试，结果写入 docs/benchmarks.md")
    parser.add_argument("--library", default="../shared/laws", help="法规库目录")
    parser.add_argument("--index", default="indexes/library", help="整库索引目录（先运行 make index-library）")
    parser.add_argument("--questions", default="eval/questions/stard_test.jsonl", help="计时与检索质量用的问题集")
    parser.add_argument("--sample", type=int, default=600, help="测编码速度的条文数")
    parser.add_argument("--repeats", type=int, default=3, help="每项重复次数（取中位数）")
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument(
        "--eval-report", action="append", help="rag eval 的 STARD 报告（可重复；默认 reports/stard_test/report.json）"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    questions = [json.loads(line)["question"] for line in open(args.questions, encoding="utf-8")][:100]
    rates = encode_rates(Path(args.library), args.sample, args.repeats)
    lines = [
        "# 基准测试",
        "",
        f"机器：{_machine()}；CPU 指令集：{', '.join(cpu_features())}。命令：`make bench`（{time.strftime('%Y-%m-%d')}）。"
        f"每项为 {args.repeats} 次运行的中位数。",
        "",
        f"## 建索引（{args.sample} 条随机法规条文）",
        "",
        "| 指标 | 数值 |",
        "|---|---|",
        f"| sentence-transformers float32 直接编码 | {rates.sentence_transformers:.1f} 条/秒 |",
        f"| 默认问题编码器（ONNX Runtime float32）直接编码 | {rates.default_encoder:.1f} 条/秒 |",
        f"| `build_index` 全流程（解析、切分、编码条文与句子、写索引，空缓存；编码：{rates.passages}） | {rates.build:.1f} 条/秒 |",
        f"| 比值（建索引 / sentence-transformers 直接编码） | {rates.build / rates.sentence_transformers:.2f} |",
    ]
    index = Path(args.index)
    if index.is_dir():
        faiss_rows = faiss_table(index, questions, args.repeats)
        runs = [serving_figures(index, questions) for _ in range(args.repeats)]
        serving = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        lines += [
            f"| 整库索引大小（含嵌入缓存） | {_size_mb(index):.0f} MB |",
            "",
            "## 提问（整库索引，新进程，前 100 个 STARD 测试题）",
            "",
            "| 指标 | 数值 |",
            "|---|---|",
            f"| 索引加载（含模型） | {serving['load_s']:.1f} s |",
            f"| retrieve() p50 / p95 | {serving['retrieve_p50']:.0f} / {serving['retrieve_p95']:.0f} ms |",
            f"| answer() p50 / p95 | {serving['answer_p50']:.0f} / {serving['answer_p95']:.0f} ms |",
            f"| 峰值内存（RSS） | {serving['rss_mb']:.0f} MB |",
            "",
            "## FAISS 索引类型（整库向量，top-10 与 flat 的重合率）",
            "",
            "| 类型 | 构建 | 大小 | 单次检索 | 召回（相对 flat） |",
            "|---|---|---|---|---|",
            *(
                f"| {r.kind} | {r.build_s:.1f} s | {r.size_mb:.0f} MB | {r.search_ms:.2f} ms | {r.recall_vs_flat:.3f} |"
                for r in faiss_rows
            ),
        ]
    else:
        lines += ["", f"（{index} 不存在：整库的加载、提问与 FAISS 部分没有测；先运行 make index-library）"]
    from eval.report import load_report, summary_table

    for report in map(Path, args.eval_report or ["reports/stard_test/report.json"]):
        if report.exists():
            lines += ["", f"## STARD 检索质量（{report.parent.name}）", "", summary_table(load_report(report))]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
