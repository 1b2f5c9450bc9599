"""`rag prior`: fit an index's category prior (rag/index/prior.py) on questions with gold articles and write it into the
index directory, where retrieval applies it.

The candidates are each question's hits from hybrid retrieval without a prior (CANDIDATES of them: every article
either retriever's pool brought in); articles a lookup pinned are left out, their place does not depend on
scores. The command prints the offsets and Recall@10 / Recall@100 / MRR@10 on the fitting questions without and
with them: numbers on the data it was fitted on, not a held-out measurement (docs/finetune.md has those)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import rag
from rag.index import PRIOR_FILE, PRIOR_PATH, CategoryPrior, Index, load_prior
from rag.records import Hit
from rag.retrieval import RetrieveOptions, search

from .metrics import gold_ranks, mean, recall_at_k, reciprocal_rank
from .questions import Catalog, LawArticle, Question, load_questions, resolve_gold

__all__ = ["Candidates", "collect", "fit_prior", "ranking_metrics", "run", "add_arguments"]

CANDIDATES = 200  # hits kept per question: both retrievers' pools of 100 (RetrieveOptions.pool)


@dataclass(frozen=True)
class Candidates:
    """One question's hits without a prior, best first, and its gold articles."""

    hits: tuple[Hit, ...]
    gold: tuple[LawArticle, ...]


def collect(index: Index, questions: Sequence[Question]) -> list[Candidates]:
    """Each answerable question's candidates, as retrieval ranks them without a prior."""
    options = RetrieveOptions(k=CANDIDATES, prior=False)
    return [Candidates(tuple(search(index, q.question, options)), q.gold) for q in questions if q.gold]


def _pinned(hit: Hit) -> bool:
    return "lookup" in hit.scores or "definition" in hit.scores


def _is_gold(hit: Hit, gold: Sequence[LawArticle]) -> bool:
    found = LawArticle(hit.law, hit.article, hit.doc_id)
    return any(g.matches(found) for g in gold)


def fit_prior(index: Index, candidates: Sequence[Candidates], *, min_gold: int = 20) -> CategoryPrior:
    rows = [(hit, c.gold) for c in candidates for hit in c.hits if not _pinned(hit)]
    return CategoryPrior.fit(
        [hit.score for hit, _ in rows],
        [index.categories.get(hit.doc_id, "") for hit, _ in rows],
        [_is_gold(hit, gold) for hit, gold in rows],
        min_gold=min_gold,
    )


def ranking_metrics(index: Index, questions: Sequence[Question], candidates: Sequence[Candidates] | None = None) -> dict[str, float]:
    """Recall@10 / Recall@100 / MRR@10 of the index's own retrieval (with its prior); `candidates`: rankings
    already collected for these questions, used instead of retrieving again."""
    rankings = [c.hits for c in candidates] if candidates is not None else [
        search(index, q.question, RetrieveOptions(k=100)) for q in questions if q.gold
    ]
    golds = [q.gold for q in questions if q.gold]
    ranks = [gold_ranks([LawArticle(h.law, h.article, h.doc_id) for h in hits], gold) for hits, gold in zip(rankings, golds)]
    return {
        "recall@10": mean(recall_at_k(r, 10) for r in ranks) or 0.0,
        "recall@100": mean(recall_at_k(r, 100) for r in ranks) or 0.0,
        "mrr@10": mean(reciprocal_rank(r, 10) for r in ranks) or 0.0,
    }


def add_arguments(parser) -> None:
    parser.add_argument("--index", required=True, help="法规库索引目录（先验写入其中的 prior.json）")
    parser.add_argument(
        "questions", nargs="*", default=["eval/questions/stard_tune.jsonl"], help="含标准条文的问题集（默认 STARD 调参集）"
    )
    parser.add_argument("--min-gold", type=int, default=20, help="一个类别至少要有这么多标准条文才拟合偏移（默认 20）")
    parser.add_argument("--out", help=f"写入的先验文件（默认索引目录中的 {PRIOR_FILE}；随包提供的是 {PRIOR_PATH}）")
    parser.add_argument(
        "--off", action="store_true", help="不拟合，写入一个不加偏移的先验：这个索引不再用随包的先验（删除 prior.json 即恢复）"
    )


def run(args) -> int:
    folder = Path(args.index)
    if args.off:
        CategoryPrior(offsets={}, report={"off": True}).save(folder / PRIOR_FILE)
        print(f"已写入 {folder / PRIOR_FILE}：这个索引的检索不按法规类别调整")
        return 0
    index = rag.get_index(folder)
    resolution = resolve_gold([q for path in args.questions for q in load_questions(path)], Catalog.from_index(index))
    questions = resolution.questions
    candidates = collect(index, questions)
    prior = fit_prior(index, candidates, min_gold=args.min_gold)
    # "after" is measured by retrieval itself, on a copy of the index that holds the new prior
    before, after = ranking_metrics(index, questions, candidates), ranking_metrics(replace(index, prior=prior), questions)
    model = index.embedder.spec.name
    report = {"questions": len(candidates), "sources": [str(p) for p in args.questions], "index": str(folder), "fitting_set": {"without": before, "with": after}}
    prior = replace(prior, model=model, report={**prior.report, **report})
    out = Path(args.out) if args.out else folder / PRIOR_FILE
    prior.save(out)
    index.prior = load_prior(folder, model)  # this process's loaded index ranks with what it will load from now on
    print(f"在 {len(candidates)} 个有标准条文的问题上拟合；各类别标准条文数：" + "，".join(f"{c} {n}" for c, n in prior.report["gold"].items()))
    if not prior.offsets:
        print(f"少于两个类别有 {args.min_gold} 条以上标准条文：不加偏移")
    for category, offset in sorted(prior.offsets.items(), key=lambda item: -item[1]):
        print(f"  {category:8s} {offset:+.3f}")
    print("拟合所用问题上（不是留出集）R@10 / R@100 / MRR@10：")
    for name, values in (("无先验", before), ("有先验", after)):
        print(f"  {name} {values['recall@10']:.3f} / {values['recall@100']:.3f} / {values['mrr@10']:.3f}")
    print(f"已写入 {out}")
    return 0
