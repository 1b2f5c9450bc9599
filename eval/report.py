"""Report files (report.json, report.md, a Recall@k plot), written atomically, and the comparison of two reports."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from rag.answering import Calibration, load_calibration
from rag.index import load_prior, recorded_model, write_atomic

from .calibrate import describe_operating_point, models_of, plot_tradeoff
from .harness import OK_RANK, SHOWN_HITS, ConfigResult, Report, Row, Summary
from .metrics import CUTOFF, LOWER_IS_BETTER, METRIC_NAMES, RECALL_KS
from .plots import chinese_labels
from .questions import EvalError

__all__ = [
    "PLOT_NAME",
    "ReportFiles",
    "MetricChange",
    "Flip",
    "Comparison",
    "write_report",
    "load_report",
    "summary_table",
    "render_markdown",
    "plot_png",
    "compare",
    "format_comparison",
]

PLOT_NAME = "recall_at_k.png"
TRADEOFF_NAME = "abstention_tradeoff.png"  # the abstention model's trade-off curve, chosen point marked
_LISTED = 20  # questions listed per section of report.md
_TIMING_TOLERANCE = 0.10  # relative change in a timing that compare() still calls the same…
_TIMING_FLOOR = {"_ms": 1.0, "_s": 0.05}  # …or absolute change, whichever is larger
_TIMINGS = frozenset(m for m in METRIC_NAMES if m.endswith(("_ms", "_s")))
_HEADLINE: list[tuple[str, str]] = [
    ("recall@1", "Recall@1"),
    ("recall@5", "Recall@5"),
    ("recall@10", "Recall@10"),
    ("recall@100", "Recall@100"),
    (f"mrr@{CUTOFF}", f"MRR@{CUTOFF}"),
    (f"ndcg@{CUTOFF}", f"nDCG@{CUTOFF}"),
    ("citation_precision", "引用精确率"),
    ("citation_recall", "引用召回率"),
    ("keyword_recall", "关键词召回"),
    ("abstention_f1", "拒答 F1"),
    ("false_abstention_rate", "误拒率"),
]


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    markdown: Path
    plot: Path
    tradeoff: Path


def write_report(report: Report, out: str | Path, *, plots: bool = True) -> ReportFiles:
    """Write report.json, report.md and (with `plots`) the plots into the directory `out` (created if needed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "report.json", out / "report.md", out / PLOT_NAME, out / TRADEOFF_NAME)
    write_atomic(files.json, json.dumps(report.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
    if plots:
        write_atomic(files.plot, plot_png(report))
        write_atomic(files.tradeoff, plot_tradeoff(load_calibration(report.settings.index or None)))
    write_atomic(files.markdown, render_markdown(report, plots=plots).encode("utf-8"))
    return files


def load_report(path: str | Path) -> Report:
    """A report.json written by write_report(); EvalError when it is missing or not such a report."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Report.from_dict(data)
    except FileNotFoundError:
        raise EvalError(f"找不到旧报告：{path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EvalError(f"{path} 不是 JSON 文件") from None
    except (KeyError, TypeError) as error:
        raise EvalError(f"{path} 不是完整的评测报告（{error}）") from None


def _fmt(value: float | None, metric: str = "", sign: str = "") -> str:
    """A metric's value for people: ratios to 3 decimals, milliseconds to whole ones, seconds to 2;
    sign="+" writes the sign of a positive value too."""
    if value is None:
        return "—"
    if metric.endswith("_ms"):
        return f"{value:{sign}.0f}" if abs(value) >= 10 else f"{value:{sign}.1f}"
    if metric.endswith("_s"):
        return f"{value:{sign}.2f}"
    return f"{value:{sign}.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(report: Report) -> str:
    """The headline metrics of each configuration as a markdown table."""
    header = ["配置", *(title for _, title in _HEADLINE), "retrieve p50/p95 ms", "answer p50/p95 ms"]
    rows = []
    for config in report.configs:
        m = config.summary.metrics
        rows.append(
            [
                config.name,
                *(_fmt(m.get(metric), metric) for metric, _ in _HEADLINE),
                f"{_fmt(m.get('retrieve_p50_ms'), '_ms')} / {_fmt(m.get('retrieve_p95_ms'), '_ms')}",
                f"{_fmt(m.get('answer_p50_ms'), '_ms')} / {_fmt(m.get('answer_p95_ms'), '_ms')}",
            ]
        )
    return _table(header, rows)


def _type_metric(summaries: list[Summary], answered: str) -> str:
    """The metric shown for a question type: `answered` when it has answerable questions, else abstention recall."""
    return answered if any(s.answerable for s in summaries) else "abstention_recall"


def _winners(values: dict[str, float | None], metric: str) -> str:
    present = {name: v for name, v in values.items() if v is not None}
    if not present:
        return "—"
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick(present.values())
    return "、".join(name for name, v in present.items() if v == best)


def _by_type_table(report: Report, answered: str) -> str:
    types = list(dict.fromkeys(t for c in report.configs for t in c.by_type))
    rows = []
    for kind in types:
        summaries = {c.name: c.by_type[kind] for c in report.configs if kind in c.by_type}
        metric = _type_metric(list(summaries.values()), answered)
        values = {name: s.metrics.get(metric) for name, s in summaries.items()}
        count = next(iter(summaries.values())).questions
        row = [kind, str(count), metric, *(_fmt(values.get(c.name), metric) for c in report.configs)]
        rows.append(row + [_winners(values, metric)])
    return _table(["类型", "题数", "指标", *(c.name for c in report.configs), "最佳"], rows)


def _all_metrics_table(report: Report) -> str:
    rows = []
    for metric in METRIC_NAMES:
        values = {c.name: c.summary.metrics.get(metric) for c in report.configs}
        rows.append([metric, *(_fmt(values[c.name], metric) for c in report.configs), _winners(values, metric)])
    return _table(["指标", *(c.name for c in report.configs), "最佳"], rows)


def _row_line(row: Row) -> str:
    gold = "、".join(f"{g.gold.label}（第 {g.rank} 名）" if g.rank else f"{g.gold.label}（未检索到）" for g in row.gold)
    if not row.answerable:
        gold = "不可回答"
    outcome = "拒答" if row.abstained else "引用 " + ("、".join(c.label for c in row.cited) or "无")
    error = f"；出错：{row.error}" if row.error else ""
    return f"- `{row.id}` [{row.type}] {row.question} — 金标准：{gold}；回答：{outcome}{error}"


def _listing(title: str, rows: list[Row]) -> list[str]:
    if not rows:
        return []
    lines = [f"**{title}**（{len(rows)} 题）", ""]
    lines += [_row_line(r) for r in rows[:_LISTED]]
    if len(rows) > _LISTED:
        lines.append(f"- ……另有 {len(rows) - _LISTED} 题，见 report.json")
    return lines + [""]


_STANCES = (("answered", "回答"), ("related", "相关"), ("not_covered", "无关"))


def stance_table(config: ConfigResult) -> str:
    """Markdown: how many questions of each group (answerable, unanswerable, off-topic) got each stance."""
    groups = (("可回答", lambda r: r.answerable), ("不可回答（近题等）", lambda r: not r.answerable and not r.offtopic), ("无关题", lambda r: r.offtopic))
    rows = []
    for name, belongs in groups:
        chosen = [r for r in config.rows if belongs(r)]
        if chosen:
            counts = [sum(r.stance == stance for r in chosen) for stance, _ in _STANCES]
            rows.append([name, str(len(chosen)), *(f"{n}（{n / len(chosen):.0%}）" for n in counts)])
    return _table(["问题", "题数", *(title for _, title in _STANCES)], rows)


def _config_details(config: ConfigResult) -> list[str]:
    missed = [r for r in config.rows if r.answerable and not any(g.rank and g.rank <= SHOWN_HITS for g in r.gold)]
    wrong = [r for r in config.rows if not r.answer_ok]
    errors = [r for r in config.rows if r.error]
    lines = [f"### {config.name}", ""]
    lines += _listing(f"检索未命中（前 {SHOWN_HITS} 名内没有金标准条文）", missed)
    lines += _listing("回答不对（可回答的题拒答或没有引用金标准条文；不可回答的题没有拒答）", wrong)
    lines += _listing("出错的问题", errors)
    if len(lines) == 2:
        lines += ["全部正确。", ""]
    return lines


def _prior_line(index: str) -> str:
    prior = load_prior(index, recorded_model(index)) if index else None
    if prior is None or not prior.offsets:
        return "无（检索分数不按法规类别调整）"
    offsets = "，".join(f"{c or '（无类别）'} {v:+.3f}" for c, v in sorted(prior.offsets.items(), key=lambda item: -item[1]))
    return f"{offsets}（加在融合分数上；`rag prior` 在 {prior.report.get('questions', '?')} 题上拟合）"


def render_markdown(report: Report, *, plots: bool = True) -> str:
    """report.md: the tables a person reads, the plot, and the questions each configuration got wrong."""
    first = report.configs[0].summary
    settings = report.settings
    lines = [
        f"# 评测报告：{Path(settings.questions).name or '问题集'}",
        "",
        f"- 问题集：`{settings.questions}`（评测 {first.questions} 题：可回答 {first.answerable}，"
        f"不可回答 {first.questions - first.answerable}"
        + (f"；只取前 {settings.limit} 题" if settings.limit else "")
        + "）",
        f"- 索引：{settings.index or '默认索引'}；answer() 读取 {settings.k} 条；retrieve() 取前 {settings.depth} 条",
        f"- 类别先验：{_prior_line(settings.index)}",
        f"- 生成时间：{report.created}",
        "- 检索与引用指标只算可回答的题，不可回答的题计入拒答指标；同一条文重复出现只算一次。",
        "",
        "## 总览",
        "",
        summary_table(report),
        "",
        "索引加载（秒）："
        + "，".join(f"{c.name} {_fmt(c.summary.metrics.get('index_load_s'), '_s')}" for c in report.configs)
        + "（同一进程内索引只加载一次，后面的配置直接复用）",
        "",
        *([f"![Recall@k]({PLOT_NAME})", ""] if plots else []),
        "## 回答的立场",
        "",
        *[block for c in report.configs for block in (f"**{c.name}**", "", stance_table(c), "")],
        "## 按问题类型",
        "",
        f"检索：Recall@{OK_RANK}（全是不可回答题的类型显示拒答召回率）",
        "",
        _by_type_table(report, f"recall@{OK_RANK}"),
        "",
        "回答：引用召回率（全是不可回答题的类型显示拒答召回率）",
        "",
        _by_type_table(report, "citation_recall"),
        "",
        "## 全部指标",
        "",
        _all_metrics_table(report),
        "",
    ]
    if report.missing_gold or report.skipped:
        lines += ["## 索引中不存在的金标准条文（未计分）", ""]
        lines += [f"- {m}" for m in report.missing_gold]
        if report.skipped:
            lines += ["", f"以下 {len(report.skipped)} 题的金标准条文都不在索引中，未参与评测：{'、'.join(report.skipped)}"]
        lines.append("")
    lines += _abstention_section(load_calibration(settings.index or None), plots)
    lines += ["## 各配置答错的问题", ""]
    for config in report.configs:
        lines += _config_details(config)
    return "\n".join(lines)


def _abstention_section(calibration: Calibration, plots: bool = True) -> list[str]:
    """The stance models these answers used: their operating points and coefficients (rag calibrate)."""
    models = models_of(calibration)
    lines = [
        "## 回答的三种立场",
        "",
        "逻辑回归（特征标准化后）给出概率，低于阈值时：一部法规的索引先判断法规是否涉及这个问题（否：无关，只列出最接近的条文），"
        "再判断引用的条文是否直接回答（否：相关，说明没有直接规定并引用相关条文）；多部法规的索引只判断回答或无关。"
        f"整条引用的长度上限 {calibration.whole_article_chars} 字。由 `rag calibrate` 在各法规的调参集上拟合。",
        "",
        *[f"- {line}" for line in describe_operating_point(calibration)],
        *[f"- {scope}：阈值 {model.threshold:.3f}，C {model.regularization:g}" for scope, model in models],
    ]
    weights = [model.weights() for _, model in models]
    names = list(dict.fromkeys(name for w in weights for name, _ in sorted(w.items(), key=lambda item: -abs(item[1]))))
    return lines + [
        "",
        _table(["特征", *(f"系数：{scope}" for scope, _ in models)], [[name, *(f"{w[name]:+.3f}" if name in w else "—" for w in weights)] for name in names]),
        "",
        *([f"![立场的权衡曲线]({TRADEOFF_NAME})", ""] if plots else []),
    ]


def plot_png(report: Report) -> bytes:
    """A PNG: Recall@k curves per configuration, and each question type's main metric per configuration."""
    from matplotlib.figure import Figure

    with chinese_labels():
        figure = Figure(figsize=(12, 4.8), layout="constrained")
        curves, bars = figure.subplots(1, 2, width_ratios=[1, 1.4])
        for config, marker in zip(report.configs, itertools.cycle("os^Dv")):
            values = [config.summary.metrics.get(f"recall@{k}") for k in RECALL_KS]
            points = [v if v is not None else float("nan") for v in values]
            curves.plot(RECALL_KS, points, marker=marker, label=config.name)
        curves.set_xscale("log")
        curves.set_xticks(RECALL_KS, [str(k) for k in RECALL_KS])
        curves.set_ylim(0, 1.02)
        curves.set_xlabel("k（检索条数）")
        curves.set_ylabel("Recall@k")
        curves.set_title("Recall@k（可回答的题）")
        curves.grid(True, alpha=0.3)
        curves.legend()

        types = list(dict.fromkeys(t for c in report.configs for t in c.by_type))
        shown = {
            kind: _type_metric([c.by_type[kind] for c in report.configs if kind in c.by_type], f"recall@{OK_RANK}")
            for kind in types
        }
        width = 0.8 / len(report.configs)
        for i, config in enumerate(report.configs):
            values = [config.by_type[t].metrics.get(shown[t]) if t in config.by_type else None for t in types]
            offset = (i - (len(report.configs) - 1) / 2) * width
            heights = [v if v is not None else 0.0 for v in values]
            drawn = bars.bar([x + offset for x in range(len(types))], heights, width, label=config.name)
            bars.bar_label(drawn, labels=[_fmt(v) if v is not None else "—" for v in values], fontsize=7, padding=1)
        # 追问·new_subject on two lines: the types' names ran into each other side by side
        labels = [f"{kind.replace('·', chr(10))}\n({'拒答召回' if shown[kind] == 'abstention_recall' else f'R@{OK_RANK}'})" for kind in types]
        bars.set_xticks(range(len(types)), labels)
        bars.set_ylim(0, 1.1)
        bars.set_title("按问题类型（颜色同左图）")
        bars.grid(True, axis="y", alpha=0.3)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


@dataclass(frozen=True)
class MetricChange:
    config: str
    metric: str
    old: float | None
    new: float | None

    @property
    def verdict(self) -> Literal["better", "worse", "same", "n/a"]:
        """'better', 'worse' or 'same' for the metric's direction; 'n/a' when either side is missing."""
        if self.old is None or self.new is None:
            return "same" if self.old is None and self.new is None else "n/a"
        delta = self.new - self.old
        tolerance = 1e-9
        if self.metric in _TIMINGS:
            floor = _TIMING_FLOOR["_ms" if self.metric.endswith("_ms") else "_s"]
            tolerance = max(abs(self.old) * _TIMING_TOLERANCE, floor)
        if abs(delta) <= tolerance:
            return "same"
        return "better" if (delta < 0) == (self.metric in LOWER_IS_BETTER) else "worse"


@dataclass(frozen=True)
class Flip:
    """A question whose retrieval (a gold article within the top OK_RANK) or answer turned right or wrong."""

    config: str
    question_id: str
    type: str
    question: str
    aspect: Literal["retrieval", "answer"]
    now_ok: bool


@dataclass
class Comparison:
    old: str  # where the old report came from
    changes: list[MetricChange]
    flips: list[Flip]
    only_old: list[str]  # configurations in the old report only
    only_new: list[str]
    unmatched: int  # questions scored in only one of the two reports (another set, --limit, or index)


def compare(old: Report, new: Report, old_source: str = "") -> Comparison:
    """Metric changes and flipped questions of the configurations both reports have; `old_source` names the old one."""
    changes: list[MetricChange] = []
    flips: list[Flip] = []
    unmatched: set[str] = set()
    checks: list[tuple[Literal["retrieval", "answer"], Callable[[Row], bool | None]]] = [
        ("retrieval", lambda r: r.retrieval_ok),
        ("answer", lambda r: r.answer_ok),
    ]
    for config in new.configs:
        before = old.config(config.name)
        if before is None:
            continue
        for metric in METRIC_NAMES:
            was, now = before.summary.metrics.get(metric), config.summary.metrics.get(metric)
            changes.append(MetricChange(config.name, metric, was, now))
        old_rows = {r.id: r for r in before.rows}
        unmatched |= set(old_rows) ^ {r.id for r in config.rows}
        for row in config.rows:
            previous = old_rows.get(row.id)
            if previous is None:
                continue
            for aspect, ok in checks:
                if ok(previous) is not None and ok(row) is not None and ok(previous) != ok(row):
                    flips.append(Flip(config.name, row.id, row.type, row.question, aspect, bool(ok(row))))
    new_names = {c.name for c in new.configs}
    old_names = {c.name for c in old.configs}
    return Comparison(
        old=old_source,
        changes=changes,
        flips=flips,
        only_old=[c.name for c in old.configs if c.name not in new_names],
        only_new=[c.name for c in new.configs if c.name not in old_names],
        unmatched=len(unmatched),
    )


def format_comparison(comparison: Comparison) -> str:
    """What got better or worse per metric and which questions flipped, as text for the terminal."""
    marks = {"better": "↑ 变好", "worse": "↓ 变差", "n/a": "？ 无法比较"}
    aspects = {"retrieval": f"检索（前 {OK_RANK} 名命中）", "answer": "回答"}
    lines = [f"与旧报告比较：{comparison.old}" if comparison.old else "与旧报告比较："]
    if comparison.unmatched:
        lines.append(f"注意：有 {comparison.unmatched} 题只在其中一份报告里，指标的变化不全是系统的变化")
    for name in dict.fromkeys(c.config for c in comparison.changes):
        changed = [c for c in comparison.changes if c.config == name and c.verdict != "same"]
        lines.append(f"\n[{name}]")
        for change in changed:
            delta = "" if change.verdict == "n/a" else _fmt(change.new - change.old, change.metric, "+")
            lines.append(
                f"  {change.metric:<22} {_fmt(change.old, change.metric):>7} → {_fmt(change.new, change.metric):<7}"
                f" {delta:>8}  {marks[change.verdict]}"
            )
        unchanged = sum(1 for c in comparison.changes if c.config == name) - len(changed)
        if not changed:
            lines.append("  各项指标均无变化")
        elif unchanged:
            lines.append(f"  其余 {unchanged} 项指标不变")
        flips = [f for f in comparison.flips if f.config == name]
        if flips:
            lines.append(f"  翻转的问题（{len(flips)}）：")
            for flip in flips:
                turn = "错 → 对" if flip.now_ok else "对 → 错"
                lines.append(f"    {turn}  {flip.question_id} [{flip.type}] {aspects[flip.aspect]}：{flip.question}")
        else:
            lines.append("  没有翻转的问题")
    for name in comparison.only_new:
        lines.append(f"\n[{name}] 旧报告中没有这个配置，无法比较")
    for name in comparison.only_old:
        lines.append(f"\n[{name}] 只在旧报告中出现")
    return "\n".join(lines)
