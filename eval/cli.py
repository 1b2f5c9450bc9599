"""`rag eval QUESTIONS.jsonl --out DIR`: run the harness, write the report, print the summary,
compare with an older report, and exit non-zero when a --min/--max quality gate is missed."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from rag.answering import add_llm_options, llm_config_from_options
from rag.index import write_atomic

from .harness import DEFAULT_CONFIGS, Report, Settings, build_configs, config_name, evaluate
from .metrics import LOWER_IS_BETTER, METRIC_NAMES
from .questions import EvalError, load_questions
from .report import compare, format_comparison, load_report, summary_table, write_report
from .suites import evaluate_suite, load_suite, per_law_suite, per_law_table, pooled

__all__ = ["Gate", "parse_gate", "check_gates", "add_arguments", "run", "GATE_FAILED"]

GATE_FAILED = 1  # exit code when a threshold is missed
_SHOWN_MISSING = 10  # missing gold articles printed to the terminal


@dataclass(frozen=True)
class Gate:
    metric: str
    bound: float
    kind: Literal["min", "max"]

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.bound if self.kind == "min" else value <= self.bound

    def __str__(self) -> str:
        return f"{self.metric} {'≥' if self.kind == 'min' else '≤'} {self.bound:g}"


def parse_gate(text: str, kind: Literal["min", "max"]) -> Gate:
    """METRIC=VALUE as a gate; EvalError for an unknown metric, a bad number, or a bound on the wrong side
    (a --min on a lower-is-better metric such as false_abstention_rate, or a --max on a higher-is-better one)."""
    metric, sep, value = text.partition("=")
    metric = metric.strip().lower()
    if not sep or not metric:
        raise EvalError(f"--{kind} {text}：应写成 指标=数值，如 recall@5=0.95")
    if metric not in METRIC_NAMES:
        raise EvalError(f"--{kind} {text}：未知指标 {metric}；可用：{', '.join(METRIC_NAMES)}")
    try:
        bound = float(value)
    except ValueError:
        raise EvalError(f"--{kind} {text}：{value.strip() or '（空）'} 不是数值") from None
    lower_better = metric in LOWER_IS_BETTER
    if kind == "min" and lower_better:
        raise EvalError(f"{metric} 越低越好，请用 --max {metric}={value.strip()}")
    if kind == "max" and not lower_better:
        raise EvalError(f"{metric} 越高越好，请用 --min {metric}={value.strip()}")
    return Gate(metric, bound, kind)


def check_gates(report: Report, gates: list[Gate], config: str) -> list[str]:
    """A message for each gate the named configuration misses; empty when all pass."""
    result = report.config(config)
    if result is None:
        raise EvalError(f"门槛所用的配置 {config} 不在本次评测中")
    failures = []
    for gate in gates:
        value = result.summary.metrics.get(gate.metric)
        if not gate.passes(value):
            shown = "无法计算" if value is None else f"{value:.4g}"
            failures.append(f"未达到门槛：{config} 的 {gate.metric} = {shown}，要求 {gate}")
    return failures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the options of `rag eval` on its subparser."""
    parser.add_argument("questions", nargs="?", help="问题集（JSONL，每行一个问题）；用 --suite 时不给")
    parser.add_argument("--suite", metavar="FILE.toml", help="评测套件：每部法规单独建索引，问它自己的问题与其他法规的无关问题，逐部评测并汇总（如 eval/suites/laws.toml）")
    parser.add_argument(
        "--per-law", action="store_true",
        help="把问题集按金标准所在的法规分成一部法规一个索引的任务（如 STARD），其他法规的问题作为无关问题",
    )
    parser.add_argument("--laws", default="../shared/laws", help="--per-law 时找法规文件的目录（默认 ../shared/laws）")
    parser.add_argument("--min-questions", type=int, default=5, help="--per-law：至少有这么多题的法规才成为任务（默认 5）")
    parser.add_argument("--offtopic", type=int, default=30, help="--per-law：每部法规问多少个其他法规的问题（默认 30）")
    parser.add_argument("--index-root", default="indexes/tasks", help="套件各法规的索引所在目录（按嵌入模型分开；默认 indexes/tasks）")
    parser.add_argument("--out", help="报告目录（默认 reports/<问题集名>）")
    parser.add_argument("--index", help="索引目录（默认：内置法规的索引）")
    parser.add_argument("--model", default=None, help="嵌入模型（须与索引一致），用于没有写 @模型 的配置")
    parser.add_argument(
        "--config",
        default=",".join(DEFAULT_CONFIGS),
        help="要比较的配置，逗号分隔：bm25、dense、hybrid，可写 mode@模型（默认 bm25,dense,hybrid）",
    )
    parser.add_argument("--limit", type=int, default=None, help="只评测前 N 题（快速试跑）")
    parser.add_argument("-k", "--k", type=int, default=5, help="answer() 读取的条文数（默认 5）")
    parser.add_argument(
        "--unanswerable", action="store_true",
        help="把每题都当作不可回答（例如用 STARD 的真实法律问题检验内置条例对无关问题的拒答）",
    )
    parser.add_argument(
        "--min", action="append", default=[], metavar="METRIC=VALUE", help="门槛：指标不得低于此值，如 recall@5=0.95（可重复）"
    )
    parser.add_argument(
        "--max", action="append", default=[], metavar="METRIC=VALUE", help="门槛：指标不得高于此值，如 false_abstention_rate=0.1"
    )
    parser.add_argument("--gate-config", default="hybrid", help="门槛检查哪个配置（默认 hybrid）")
    parser.add_argument("--compare", metavar="OLD/report.json", help="与旧报告比较：各指标的变化与翻转的问题")
    add_llm_options(parser, configured=False)  # an LLM is evaluated only when --llm names it


def run(args: argparse.Namespace) -> int:
    """Run `rag eval` with parsed options; the exit code is GATE_FAILED when a threshold is missed, else 0.
    Problems with the options or the question set raise EvalError before any question is run."""
    gates = [parse_gate(text, "min") for text in args.min] + [parse_gate(text, "max") for text in args.max]
    specs = [s.strip() for s in args.config.split(",") if s.strip()]
    if gates and args.gate_config not in specs:
        raise EvalError(f"门槛所用的配置 {args.gate_config} 不在 --config {args.config} 中")
    if args.k < 1:
        raise EvalError("-k 必须是正整数")
    old = load_report(args.compare) if args.compare else None
    if args.suite or args.per_law:
        return _run_suite(args, specs, gates, old)
    if not args.questions:
        raise EvalError("请给出问题集，或用 --suite 给出评测套件")
    questions = load_questions(args.questions, args.limit)
    if args.unanswerable:
        questions = [replace(q, gold=()) for q in questions]
    llm = llm_config_from_options(args) if args.llm else None  # only an explicit --llm evaluates an LLM
    configs = build_configs(specs, index=args.index, model=args.model, k=args.k, llm=llm)
    settings = Settings(questions=args.questions, index=args.index or "", k=args.k, limit=args.limit)
    report = evaluate(questions, configs, settings=settings)
    out = Path(args.out) if args.out else Path("reports") / Path(args.questions).stem
    files = write_report(report, out)

    if report.missing_gold:
        print(f"注意：{len(report.missing_gold)} 个金标准条文不在索引中，未计分：", file=sys.stderr)
        for missing in report.missing_gold[:_SHOWN_MISSING]:
            print(f"  {missing}", file=sys.stderr)
        if len(report.missing_gold) > _SHOWN_MISSING:
            print(f"  ……完整列表见 {files.markdown}", file=sys.stderr)
    print(summary_table(report))
    print(f"\n报告已写入 {out}：{files.json.name}、{files.markdown.name}、{files.plot.name}")
    if old is not None:
        print()
        print(format_comparison(compare(old, report, args.compare)))
    return _gate(report, gates, config_name(args.gate_config, llm))


def _gate(report: Report, gates: list[Gate], config: str) -> int:
    failures = check_gates(report, gates, config) if gates else []
    for failure in failures:
        print(failure, file=sys.stderr)
    if gates and not failures:
        print(f"门槛全部通过（{config}：{'，'.join(map(str, gates))}）")
    return GATE_FAILED if failures else 0


def _run_suite(args: argparse.Namespace, specs: list[str], gates: list[Gate], old: Report | None) -> int:
    """`rag eval --suite FILE` / `rag eval QUESTIONS --per-law`: every law on its own index, reported per law
    (out/laws/<doc_id>/) and pooled (out/report.*, out/per_law.md); the gates apply to the pooled report."""
    if args.per_law:
        if not args.questions:
            raise EvalError("--per-law 需要问题集")
        suite = per_law_suite(args.questions, args.laws, min_questions=args.min_questions, offtopic_per_task=args.offtopic)
    else:
        suite = load_suite(args.suite)
    llm = llm_config_from_options(args) if args.llm else None
    reports = evaluate_suite(suite, specs, index_root=args.index_root, model=args.model, k=args.k, llm=llm)
    out = Path(args.out) if args.out else Path("reports") / suite.name
    for task in reports:
        write_report(task.report, out / "laws" / task.task.doc_id, plots=False)
    report = pooled(suite, reports)
    files = write_report(report, out)
    gate_config = config_name(args.gate_config, llm)
    table = per_law_table(reports, gate_config)
    write_atomic(out / "per_law.md", f"# 逐部法规：{suite.name}\n\n{table}\n".encode("utf-8"))
    print(summary_table(report))
    print()
    print(table)
    print(f"\n报告已写入 {out}：{files.json.name}、{files.markdown.name}、per_law.md、laws/<法规 id>/")
    if old is not None:
        print()
        print(format_comparison(compare(old, report, args.compare)))
    return _gate(report, gates, gate_config)
