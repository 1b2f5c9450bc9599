"""The harness, report files, compare and the CLI gate, over fake configurations with known outcomes."""

import argparse
import json
import math
from dataclasses import dataclass

import pytest

import eval.cli
from eval.cli import add_arguments, check_gates, parse_gate, run
from eval.harness import Config, Settings, build_configs, evaluate, evaluate_file
from eval.questions import Catalog, EvalError, LawArticle, Question
from eval.report import PLOT_NAME, MetricChange, compare, format_comparison, load_report, write_report
from rag.errors import InvalidQuestion
from rag.records import Answer, Chunk, Citation, Hit, Stance

LAW, DOC_ID = "测试条例", "law-1"
LABELS = ["", "第一条", "第二条", "第三条", "第四条", "第五条"]
CATALOG = Catalog(frozenset(LawArticle(LAW, label, DOC_ID) for label in LABELS))


def gold(*labels: str) -> tuple[LawArticle, ...]:
    return tuple(LawArticle(LAW, label) for label in labels)


QUESTIONS = [
    Question("q1", "一", gold("第一条"), "everyday", ("甲", "乙"), 1),
    Question("q2", "二", gold("第二条", "第三条"), "everyday", (), 2),
    Question("q3", "三", gold(""), "metadata", ("2020年",), 3),
    Question("q4", "四", (), "unanswerable", (), 4),
    Question("q5", "五", (), "unanswerable", (), 5),
]


@dataclass(frozen=True)
class Reply:
    cited: tuple[str, ...]
    text: str = ""
    abstained: bool = False


def hit(label: str, rank: int, score: float = 1.0) -> Hit:
    chunk = Chunk(f"c-{label}", DOC_ID, LAW, label, 0, 0, f"{label}的正文")
    return Hit(chunk=chunk, score=score, rank=rank)


def fake_config(name: str, rankings: dict[str, list[str]], replies: dict[str, Reply]) -> Config:
    def retrieve(question: str, k: int) -> list[Hit]:
        if question not in rankings:
            raise InvalidQuestion("问题为空")
        return [hit(label, i) for i, label in enumerate(rankings[question][:k], start=1)]

    def answer(question: str) -> Answer:
        reply = replies[question]
        citations = [Citation(n, LAW, label, DOC_ID, "", "") for n, label in enumerate(reply.cited, start=1)]
        hits = [hit(label, i) for i, label in enumerate(rankings.get(question, []), start=1)]
        return Answer(question, reply.text, citations, hits, Stance.NOT_COVERED if reply.abstained else Stance.ANSWERED)

    return Config(name, retrieve, answer, lambda: CATALOG)


# q2's ranking repeats 第三条 (a split article); it counts once, so 第二条 is 4th
RANKINGS = {
    "一": ["第二条", "第一条", "第三条"],
    "二": ["第三条", "第三条", "第五条", "第四条", "第二条"],
    "三": ["", "第一条"],
    "四": ["第四条"],
    "五": ["第五条"],
}
REPLIES = {
    "一": Reply(("第一条", "第二条"), "甲 和 丙"),
    "二": Reply((), "抱歉", abstained=True),
    "三": Reply(("",), "2020 年施行"),
    "四": Reply((), "抱歉", abstained=True),
    "五": Reply(("第四条",), "第四条说……"),
}
# Same as above, except q1's gold is now first and q4 is answered instead of abstained on
BETTER_RANKINGS = {**RANKINGS, "一": ["第一条", "第二条"]}
WORSE_REPLIES = {**REPLIES, "四": Reply(("第四条",), "第四条说……")}


def good() -> Config:
    return fake_config("hybrid", RANKINGS, REPLIES)


def test_summary_numbers():
    report = evaluate(QUESTIONS, [good()], progress=False)
    [result] = report.configs
    m = result.summary.metrics
    assert (result.summary.questions, result.summary.answerable, result.summary.errors) == (5, 3, 0)
    expected = {
        "recall@1": 0.5,  # q1 0, q2 1/2, q3 1
        "recall@3": 2.5 / 3,
        "recall@5": 1.0,
        "recall@100": 1.0,
        "hit@1": 2 / 3,
        "hit@3": 1.0,
        "mrr@10": 2.5 / 3,
        "ndcg@10": (1 / math.log2(3) + (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3)) + 1) / 3,
        "citation_precision": 0.75,  # q1 1/2, q3 1; q2 cited nothing
        "citation_recall": 2 / 3,  # q1 1, q2 0, q3 1
        "keyword_recall": 0.75,  # q1 甲 of 甲乙, q3 2020年
        "abstention_precision": 0.5,  # abstained on q2 (answerable) and q4
        "abstention_recall": 0.5,  # q4 of q4, q5
        "abstention_f1": 0.5,
        "false_abstention_rate": 1 / 3,
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value), name
    assert m["retrieve_p50_ms"] >= 0 and m["answer_p95_ms"] >= m["answer_p50_ms"]
    assert m["index_load_s"] >= 0
    rows = {r.id: r for r in result.rows}
    assert rows["q2"].ranks == [4, 1]
    assert rows["q1"].found_keywords == ["甲"]
    assert [a.article for a in rows["q2"].retrieved] == ["第三条", "第五条", "第四条", "第二条"]
    assert [r.answer_ok for r in result.rows] == [True, False, True, True, False]


def test_per_type_summaries():
    report = evaluate(QUESTIONS, [good()], progress=False)
    by_type = report.configs[0].by_type
    assert list(by_type) == ["everyday", "metadata", "unanswerable"]
    assert by_type["everyday"].metrics["recall@1"] == 0.25
    assert by_type["metadata"].metrics["mrr@10"] == 1.0
    assert by_type["unanswerable"].metrics["recall@5"] is None
    assert by_type["unanswerable"].metrics["abstention_recall"] == 0.5
    assert "index_load_s" not in by_type["everyday"].metrics


def test_ties_keep_the_order_retrieve_returned():
    config = good()
    tied = Config(
        "tied",
        lambda q, k: [hit("第二条", 1, 0.5), hit("第一条", 2, 0.5)],
        config.answer,
        config.load,
    )
    [row] = evaluate(QUESTIONS[:1], [tied], progress=False).configs[0].rows
    assert row.ranks == [2]


def test_a_failing_question_is_recorded_and_scored_as_a_miss():
    broken = Question("q9", "九", gold("第一条"), "everyday", (), 9)
    replies = {**REPLIES, "九": Reply(("第一条",), "答")}
    report = evaluate([broken], [fake_config("hybrid", RANKINGS, replies)], progress=False)
    [row] = report.configs[0].rows
    assert row.error == "问题为空" and row.ranks == [None]
    assert report.configs[0].summary.errors == 1
    assert report.configs[0].summary.metrics["recall@100"] == 0.0


def test_missing_gold_is_reported_once_and_not_scored():
    question = Question("q6", "一", gold("第一条", "第九十九条"), "everyday", (), 6)
    orphan = Question("q7", "一", gold("第九十九条"), "everyday", (), 7)
    report = evaluate([question, orphan], [good(), fake_config("bm25", RANKINGS, REPLIES)], progress=False)
    assert [(m.question_id, m.article) for m in report.missing_gold] == [("q6", "第九十九条"), ("q7", "第九十九条")]
    assert report.skipped == ["q7"]
    for result in report.configs:
        assert [r.id for r in result.rows] == ["q6"]
        assert result.summary.metrics["recall@3"] == 1.0


def test_report_files(tmp_path):
    report = evaluate(
        QUESTIONS,
        [fake_config("bm25", RANKINGS, WORSE_REPLIES), good()],
        settings=Settings(questions="seed.jsonl", k=5),
        progress=False,
    )
    files = write_report(report, tmp_path / "out")
    assert files.plot == tmp_path / "out" / PLOT_NAME
    for path in (files.json, files.markdown, files.plot):
        assert path.is_file() and path.stat().st_size > 0
    assert files.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(files.plot).ndim == 3
    data = json.loads(files.json.read_text(encoding="utf-8"))
    row = data["configs"][1]["rows"][1]
    assert row["gold"] == [
        {"law": LAW, "article": "第二条", "doc_id": DOC_ID, "rank": 4},
        {"law": LAW, "article": "第三条", "doc_id": DOC_ID, "rank": 1},
    ]
    assert row["abstained"] is True and row["cited"] == [] and row["answer_ms"] >= 0
    assert load_report(files.json) == report
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "| hybrid | 0.500 | 1.000 |" in markdown
    assert f"![Recall@k]({PLOT_NAME})" in markdown
    assert "| unanswerable | 2 | abstention_recall | 0.000 | 0.500 | hybrid |" in markdown
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_report_states_the_category_prior_of_the_index(tmp_path):
    from rag.index.prior import PRIOR_FILE, CategoryPrior

    folder = tmp_path / "idx"
    folder.mkdir()
    settings = Settings(questions="seed.jsonl", k=5, index=str(folder))
    without = write_report(evaluate(QUESTIONS, [good()], settings=settings, progress=False), tmp_path / "a")
    assert "- 类别先验：无" in without.markdown.read_text(encoding="utf-8")
    CategoryPrior({"法律": 0.0, "司法解释": -0.177}, report={"questions": 804}).save(folder / PRIOR_FILE)
    written = write_report(evaluate(QUESTIONS, [good()], settings=settings, progress=False), tmp_path / "b")
    assert "- 类别先验：法律 +0.000，司法解释 -0.177（加在融合分数上；`rag prior` 在 804 题上拟合）" in written.markdown.read_text(encoding="utf-8")


def test_load_report_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(EvalError, match="不是本工具生成的评测报告"):
        load_report(tmp_path / "x.json")
    with pytest.raises(EvalError, match="找不到旧报告"):
        load_report(tmp_path / "absent.json")


def test_compare_lists_metric_changes_and_flipped_questions():
    old = evaluate(QUESTIONS, [good()], progress=False)
    new = evaluate(QUESTIONS, [fake_config("hybrid", BETTER_RANKINGS, WORSE_REPLIES)], progress=False)
    comparison = compare(old, new, "old/report.json")
    verdicts = {c.metric: c.verdict for c in comparison.changes}
    assert verdicts["recall@1"] == "better" and verdicts["mrr@10"] == "better"
    assert verdicts["abstention_recall"] == "worse" and verdicts["recall@5"] == "same"
    assert verdicts["false_abstention_rate"] == "same"
    assert [(f.question_id, f.aspect, f.now_ok) for f in comparison.flips] == [("q4", "answer", False)]
    text = format_comparison(comparison)
    assert "与旧报告比较：old/report.json" in text
    assert "recall@1" in text and "↑ 变好" in text
    assert "abstention_recall" in text and "↓ 变差" in text
    assert "对 → 错  q4 [unanswerable] 回答：四" in text
    assert "recall@5 " not in text  # unchanged metrics are not listed


def test_compare_retrieval_flip_and_configs_on_one_side():
    sixth = ["第二条", "第三条", "第四条", "第五条", "", "第一条"]
    old = evaluate(QUESTIONS, [fake_config("hybrid", {**RANKINGS, "一": sixth}, REPLIES)], progress=False)
    new = evaluate(QUESTIONS, [good(), fake_config("dense", RANKINGS, REPLIES)], progress=False)
    comparison = compare(old, new)
    assert [(f.question_id, f.aspect, f.now_ok) for f in comparison.flips] == [("q1", "retrieval", True)]
    assert comparison.only_new == ["dense"]
    assert comparison.unmatched == 0
    assert "[dense] 旧报告中没有这个配置" in format_comparison(comparison)


def test_compare_warns_when_the_question_sets_differ():
    old = evaluate(QUESTIONS, [good()], progress=False)
    new = evaluate(QUESTIONS[:3], [good()], progress=False)
    comparison = compare(old, new)
    assert comparison.unmatched == 2
    assert "注意：有 2 题只在其中一份报告里" in format_comparison(comparison)


def test_timings_change_only_beyond_noise():
    assert MetricChange("c", "answer_p50_ms", 1000.0, 1080.0).verdict == "same"  # within 10 %
    assert MetricChange("c", "answer_p50_ms", 1000.0, 1200.0).verdict == "worse"
    assert MetricChange("c", "retrieve_p95_ms", 0.4, 1.2).verdict == "same"  # within 1 ms
    assert MetricChange("c", "index_load_s", 10.0, 5.0).verdict == "better"
    assert MetricChange("c", "recall@5", 0.5, 0.5001).verdict == "better"
    assert MetricChange("c", "abstention_f1", None, 0.5).verdict == "n/a"


def test_parse_gate():
    assert parse_gate("recall@5=0.95", "min").passes(0.95)
    assert not parse_gate(" Recall@5 = 0.95", "min").passes(0.9)
    assert parse_gate("false_abstention_rate=0.1", "max").passes(0.1)
    assert not parse_gate("abstention_f1=0.8", "min").passes(None)
    for text, kind, message in [
        ("recall@7=0.9", "min", "未知指标 recall@7"),
        ("recall@5", "min", "应写成 指标=数值"),
        ("recall@5=high", "min", "high 不是数值"),
        ("false_abstention_rate=0.1", "min", "请用 --max"),
        ("recall@5=0.9", "max", "请用 --min"),
    ]:
        with pytest.raises(EvalError, match=message):
            parse_gate(text, kind)


def test_check_gates_names_each_missed_threshold():
    report = evaluate(QUESTIONS, [good()], progress=False)
    gates = [parse_gate("recall@5=0.95", "min"), parse_gate("abstention_f1=0.8", "min")]
    assert check_gates(report, gates, "hybrid") == ["未达到门槛：hybrid 的 abstention_f1 = 0.5，要求 abstention_f1 ≥ 0.8"]
    with pytest.raises(EvalError, match="dense"):
        check_gates(report, gates, "dense")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Runs `rag eval` on QUESTIONS over fake configurations: bm25 (worse answers) and hybrid."""
    path = tmp_path / "set.jsonl"
    lines = [
        json.dumps({"id": q.id, "question": q.question, "gold": [{"law": g.law, "article": g.article} for g in q.gold],
                    "type": q.type, "keywords": list(q.keywords)}, ensure_ascii=False)
        for q in QUESTIONS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fakes = {"bm25": fake_config("bm25", RANKINGS, WORSE_REPLIES), "hybrid": good()}
    monkeypatch.setattr(eval.cli, "build_configs", lambda specs, **_: [fakes[s] for s in specs])
    monkeypatch.setattr(eval.cli, "evaluate", lambda *a, **kw: evaluate(*a, **{**kw, "progress": False}))

    def invoke(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return run(parser.parse_args([str(path), "--config", "bm25,hybrid", *argv]))

    return invoke


def test_cli_gate_exit_code(cli, tmp_path, capsys):
    assert cli("--out", str(tmp_path / "a"), "--min", "recall@5=0.95", "--max", "false_abstention_rate=0.34") == 0
    assert "门槛全部通过" in capsys.readouterr().out
    assert cli("--out", str(tmp_path / "b"), "--min", "recall@5=0.95", "--min", "abstention_f1=0.8") == 1
    captured = capsys.readouterr()
    assert "未达到门槛：hybrid 的 abstention_f1" in captured.err
    assert "| 配置 |" in captured.out  # the summary table is printed either way
    assert cli("--out", str(tmp_path / "c"), "--gate-config", "bm25", "--min", "abstention_recall=0.1") == 1
    with pytest.raises(EvalError, match="dense"):
        cli("--gate-config", "dense", "--min", "recall@5=0.9")


def test_cli_writes_the_report_and_compares(cli, tmp_path, capsys):
    assert cli("--out", str(tmp_path / "old")) == 0
    assert (tmp_path / "old" / "report.md").is_file() and (tmp_path / "old" / PLOT_NAME).is_file()
    capsys.readouterr()
    assert cli("--out", str(tmp_path / "new"), "--compare", str(tmp_path / "old" / "report.json")) == 0
    out = capsys.readouterr().out
    assert "与旧报告比较" in out and "[hybrid]" in out and "没有翻转的问题" in out


def test_standard_configs_call_the_public_api(tmp_path, monkeypatch):
    import rag

    calls = []
    fake = good()

    def retrieve(question, k=10, *, index=None, mode="hybrid", laws=(), model=None):
        calls.append(("retrieve", k, index, mode, model))
        return fake.retrieve(question, k)

    def answer(question, *, index=None, k=5, mode="hybrid", laws=(), model=None, history=()):
        calls.append(("answer", k, index, mode, model))
        return fake.answer(question)

    class FakeIndex:
        chunks = [Chunk(f"c{i}", DOC_ID, LAW, label, 0, 0, "") for i, label in enumerate(LABELS)]

    monkeypatch.setattr(rag, "retrieve", retrieve)
    monkeypatch.setattr(rag, "answer", answer)
    monkeypatch.setattr(rag, "get_index", lambda index=None, *, model=None: FakeIndex())
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "一", "gold": [1]}) + "\n", encoding="utf-8")
    report = evaluate_file(path, configs=("bm25", "dense@my-model"), index="idx", model="base", k=3, progress=False)
    assert calls == [
        ("retrieve", 100, "idx", "bm25", "base"),
        ("answer", 3, "idx", "bm25", "base"),
        ("retrieve", 100, "idx", "dense", "my-model"),
        ("answer", 3, "idx", "dense", "my-model"),
    ]
    assert [c.name for c in report.configs] == ["bm25", "dense@my-model"]
    assert report.configs[0].rows[0].ranks == [2]  # bare gold 1 → 第一条 of the single law
    assert report.settings == Settings(questions=str(path), index="idx", k=3, limit=None)
    with pytest.raises(EvalError, match="未知的配置 “rerank”"):
        build_configs(["rerank"])
    with pytest.raises(EvalError, match="配置重复"):
        build_configs(["bm25", "bm25"])
