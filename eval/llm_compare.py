"""Generative against extractive answers on the same questions and the same retrieval (`make eval-llm`):

    python -m eval.llm_compare QUESTIONS [--index DIR] --llm llamacpp:qwen2.5-coder-1.5b --out reports/llm-seed

Each question is answered once by the extractive reader (rag.answer); where it found articles that answer
(stance answered), the LLM writes its answer from the same hits, as rag.answer(llm=…) would (the articles
the reader quotes, rag.answering.model_articles), streamed, so that the time to its first token is measured. Both answers are scored on the same questions:

- keyword recall (eval.metrics.keyword_recall) and citation precision against the gold articles;
- sentence support: of the (sentence, cited article) pairs, the share whose article holds at least half of
  the sentence's wording (eval.grounding.sentence_support);
- unsupported claims: numbers, dates, amounts and named bodies of the answer that no cited article states
  (eval.grounding.unsupported_claims), counted per answer;
- fallback rate (no valid citation: the extractive answer is shown), time to first token and total time.

report.json holds every row; answers.md lists each generated answer under its question with the cited
articles' text, for reading them against the articles (docs/llm.md records what was read)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from rag import Answer, get_index
from rag import answer as rag_answer
from rag.answering import get_backend, load_llm_config, model_articles, stream_answer
from rag.errors import RagError

from .grounding import sentence_support, unsupported_claims
from .metrics import citation_precision, keyword_recall, mean, percentile
from .questions import Catalog, LawArticle, Question, load_questions, resolve_gold

__all__ = ["Row", "compare", "rescore", "summarize", "main"]


@dataclass
class Side:
    """One answer's scores."""

    text: str
    cited: list[str]  # labels of the cited articles, in order
    keyword_recall: float | None
    citation_precision: float | None
    supported_pairs: int
    cited_pairs: int
    unsupported: list[str]  # the claims no cited article states, as written
    seconds: float


@dataclass
class Row:
    id: str
    question: str
    stance: str
    gold: list[str]
    extractive: Side
    generated: Side | None = None  # None: the LLM was not asked (the reader did not answer)
    fell_back: bool = False
    reply: str = ""  # the model's text as it wrote it (before citations were checked)
    first_token_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str = ""


class _Timed:
    """A backend wrapper recording when its first piece arrived, and the whole reply."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self.first: float | None = None
        self.reply = ""

    def complete(self, messages: Sequence[dict]) -> str:
        return "".join(self.stream(messages))

    def stream(self, messages: Sequence[dict]) -> Iterator[str]:
        self.first, self.reply = None, ""
        for piece in self.backend.stream(messages):
            if self.first is None:
                self.first = time.perf_counter()
            self.reply += piece
            yield piece


def _score(
    text: str, cited: Sequence[str], texts: dict[int, str], question: Question, precision: float | None, seconds: float
) -> Side:
    """The scores of an answer `text` to `question` citing the articles `cited` (labels), `texts` by citation number."""
    pairs = sentence_support(text, texts)
    return Side(
        text=text,
        cited=list(cited),
        keyword_recall=keyword_recall(text, question.keywords),
        citation_precision=precision,
        supported_pairs=sum(1 for *_, ok in pairs if ok),
        cited_pairs=len(pairs),
        unsupported=[c.text for c in unsupported_claims(text, list(texts.values()), question.question)],
        seconds=seconds,
    )


def _side(result: Answer, question: Question, seconds: float) -> Side:
    cited = [LawArticle(c.law, c.article, c.doc_id) for c in result.citations]
    precision = citation_precision(cited, question.gold) if question.gold else None
    texts = {c.number: c.text for c in result.citations}
    return _score(result.text, [c.label for c in result.citations], texts, question, precision, seconds)


def compare(questions: Sequence[Question], llm: Any, *, index: str | None = None, k: int = 5, log=print) -> list[Row]:
    """One Row per question: the extractive answer, and where it answered, the LLM's from the same hits."""
    timed = _Timed(get_backend(llm))
    rows = []
    for position, question in enumerate(questions, start=1):
        start = time.perf_counter()
        try:
            extractive = rag_answer(question.question, index=index, k=k)
        except RagError as error:
            log(f"[{position}/{len(questions)}] {question.id}：错误 {error}")
            continue
        row = Row(question.id, question.question, str(extractive.stance), [g.article for g in question.gold],
                  _side(extractive, question, time.perf_counter() - start))
        if extractive.stance == "answered":
            start = time.perf_counter()
            try:
                *_, final = stream_answer(extractive.question, model_articles(extractive, llm), extractive, timed)
            except RagError as error:
                row.error = str(error)
            else:
                row.generated = _side(final, question, time.perf_counter() - start)
                row.fell_back = final.fell_back
                row.reply = timed.reply
                row.first_token_s = (timed.first - start) if timed.first else None
                row.warnings = final.warnings
        rows.append(row)
        done = f"{row.generated.seconds:.1f} s" if row.generated else "未调用"
        log(f"[{position}/{len(questions)}] {question.id} {row.stance} LLM {done}")
    return rows


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """The measures over the questions the LLM answered, for both sides."""
    asked = [r for r in rows if r.generated is not None]
    out: dict[str, Any] = {"questions": len(rows), "llm_asked": len(asked), "errors": sum(1 for r in rows if r.error)}
    for name in ("extractive", "generated"):
        sides = [getattr(r, name) for r in asked]
        out[name] = {
            "keyword_recall": mean(s.keyword_recall for s in sides),
            "citation_precision": mean(s.citation_precision for s in sides),
            "sentence_support": _ratio(sum(s.supported_pairs for s in sides), sum(s.cited_pairs for s in sides)),
            "unsupported_claims": sum(len(s.unsupported) for s in sides),
            "answers_with_unsupported": sum(1 for s in sides if s.unsupported),
            "seconds_p50": percentile([s.seconds for s in sides], 50),
            "seconds_p95": percentile([s.seconds for s in sides], 95),
        }
    shown = [r for r in asked if not r.fell_back]  # the model's own text is what the reader sees
    out["generated_shown"] = {
        "answers": len(shown),
        "keyword_recall": mean(r.generated.keyword_recall for r in shown),
        "unsupported_claims": sum(len(r.generated.unsupported) for r in shown),
        "answers_with_unsupported": sum(1 for r in shown if r.generated.unsupported),
    }
    out["fallback_rate"] = _ratio(sum(1 for r in asked if r.fell_back), len(asked))
    firsts = [r.first_token_s for r in asked if r.first_token_s is not None]
    out["first_token_s_p50"] = percentile(firsts, 50)
    out["first_token_s_p95"] = percentile(firsts, 95)
    return out


def _article_texts(index: str | None) -> dict[str, str]:
    """label (《law》第N条, 《law》文件信息) → the article's text (a split article's parts joined)."""
    texts: dict[str, str] = {}
    for chunk in get_index(index).chunks:
        texts[chunk.citation_label] = (texts.get(chunk.citation_label, "") + "\n" + chunk.text).strip()
    return texts


def rescore(report: dict[str, Any], questions: Sequence[Question], index: str | None) -> list[Row]:
    """The rows of a saved report scored again with today's eval.grounding (no model is run)."""
    texts = _article_texts(index)
    by_id = {q.id: q for q in questions}
    rows = []
    for data in report["rows"]:
        sides = {}
        for name in ("extractive", "generated"):
            side = data.get(name)
            if side is not None:
                numbered = {n: texts.get(label, "") for n, label in enumerate(side["cited"], start=1)}
                question = by_id.get(data["id"]) or Question(data["id"], data["question"], ())
                sides[name] = _score(side["text"], side["cited"], numbered, question, side["citation_precision"], side["seconds"])
        rows.append(Row(**{**data, **sides}))
    return rows


def _answers_markdown(rows: Sequence[Row], index: str | None) -> str:
    """Every generated answer with the text of the articles it cites, for reading."""
    texts = _article_texts(index)
    lines = []
    for row in rows:
        if row.generated is None:
            continue
        lines += [f"## {row.id}　{row.question}", "", f"金标准：{'、'.join(row.gold) or '（不可回答）'}", ""]
        lines += [f"**生成**{'（改用摘录）' if row.fell_back else ''}：{row.generated.text}", ""]
        if row.fell_back and row.reply:
            lines += [f"模型原文：{row.reply}", ""]
        if row.generated.unsupported:
            lines += [f"条文中没有的：{'、'.join(row.generated.unsupported)}", ""]
        for label in row.generated.cited:
            lines += [f"> {label}：{texts.get(label, '')}", ""]
        lines += [f"**摘录**：{row.extractive.text}", ""]
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    """The git commit the code was run from (with + when the work tree differed), or ""."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.llm_compare", description="生成式与摘录回答在同一批问题上的比较")
    parser.add_argument("questions", help="问题集（JSONL）；只用单独的问题，对话跳过")
    parser.add_argument("--index", help="索引目录（默认：内置法规）")
    parser.add_argument("--llm", required=True, metavar="BACKEND:MODEL", help="例如 llamacpp:qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, help="只用前 N 题")
    parser.add_argument("-k", type=int, default=5, help="检索的条文数（默认 5）")
    parser.add_argument("--out", required=True, help="报告目录：report.json、answers.md")
    parser.add_argument("--rescore", action="store_true", help="不运行模型：用现在的指标重新计算 --out 中已有的报告")
    args = parser.parse_args(argv)
    if args.rescore:
        out = Path(args.out)
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        rows = rescore(report, load_questions(args.questions), args.index)
        report |= {"summary": summarize(rows), "rows": [asdict(r) for r in rows]}
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        (out / "answers.md").write_text(_answers_markdown(rows, args.index), encoding="utf-8")
        print(json.dumps(report["summary"], ensure_ascii=False, indent=1))
        return 0
    try:
        llm = load_llm_config(args.llm)
        questions = [q for q in load_questions(args.questions) if not q.conversation]
        questions = resolve_gold(questions, Catalog.from_index(get_index(args.index))).questions[: args.limit]
        rows = compare(questions, llm, index=args.index, k=args.k)
    except RagError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    machine = {
        "cpu": _cpu_name(), "cores": len(os.sched_getaffinity(0)), "date": time.strftime("%Y-%m-%d"),
        "load_average": os.getloadavg(), "commit": _commit(), "threads": getattr(llm, "threads", None),
    }
    report = {"questions": args.questions, "index": args.index, "llm": llm.name if llm else None, "machine": machine,
              "summary": summary, "rows": [asdict(r) for r in rows]}
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "answers.md").write_text(_answers_markdown(rows, args.index), encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
