"""Pure metric functions over one question (ranks of its gold articles, what was cited, the answer text)
or over a set of them (abstention, means, percentiles). A value that is undefined, such as Recall of a
question without gold articles, is None; means skip None.

Ranks are 1-based positions in the list retrieve() returned, after dropping repeats of the same article;
hits with equal scores keep the order retrieve() gave them, which is the order a user sees."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .questions import LawArticle

__all__ = [
    "RECALL_KS",
    "DEPTH",
    "CUTOFF",
    "METRIC_NAMES",
    "LOWER_IS_BETTER",
    "AbstentionScores",
    "dedupe",
    "gold_ranks",
    "recall_at_k",
    "hit_at_k",
    "reciprocal_rank",
    "ndcg_at_k",
    "citation_precision",
    "citation_recall",
    "found_keywords",
    "keyword_recall",
    "abstention_scores",
    "mean",
    "percentile",
]

RECALL_KS = (1, 3, 5, 10, 100)
DEPTH = max(RECALL_KS)  # hits asked of retrieve() per question
CUTOFF = 10  # depth of MRR and nDCG

METRIC_NAMES: tuple[str, ...] = (
    *(f"recall@{k}" for k in RECALL_KS),
    *(f"hit@{k}" for k in RECALL_KS),
    f"mrr@{CUTOFF}",
    f"ndcg@{CUTOFF}",
    "citation_precision",
    "citation_recall",
    "answered_from_gold",
    "followup_answer_ok",
    "keyword_recall",
    "abstention_precision",
    "abstention_recall",
    "abstention_f1",
    "false_abstention_rate",
    "answered_rate",
    "unanswerable_answered_rate",
    "offtopic_not_covered_rate",
    "retrieve_p50_ms",
    "retrieve_p95_ms",
    "answer_p50_ms",
    "answer_p95_ms",
    "index_load_s",
)
LOWER_IS_BETTER = frozenset(
    {"false_abstention_rate", "unanswerable_answered_rate", "retrieve_p50_ms", "retrieve_p95_ms", "answer_p50_ms", "answer_p95_ms", "index_load_s"}
)

Ranks = Sequence[int | None]  # rank of each gold article, None when it was not retrieved


def dedupe(articles: Iterable[LawArticle]) -> list[LawArticle]:
    """The articles in order, each kept at its first occurrence only."""
    seen: set[tuple[str, str]] = set()
    kept: list[LawArticle] = []
    for article in articles:
        if article.key not in seen:
            seen.add(article.key)
            kept.append(article)
    return kept


def gold_ranks(ranking: Sequence[LawArticle], gold: Sequence[LawArticle]) -> list[int | None]:
    """The 1-based rank of each gold article in the ranking (repeats dropped), None where it is absent."""
    ranked = dedupe(ranking)
    return [next((i for i, hit in enumerate(ranked, start=1) if g.matches(hit)), None) for g in gold]


def recall_at_k(ranks: Ranks, k: int) -> float | None:
    """Share of the gold articles ranked within the top k; None without gold."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def hit_at_k(ranks: Ranks, k: int) -> float | None:
    """1.0 when at least one gold article is within the top k, else 0.0; None without gold."""
    if not ranks:
        return None
    return 1.0 if any(r is not None and r <= k for r in ranks) else 0.0


def reciprocal_rank(ranks: Ranks, k: int = CUTOFF) -> float | None:
    """1 / the rank of the first gold article within the top k (0.0 if none is); None without gold."""
    if not ranks:
        return None
    found = [r for r in ranks if r is not None and r <= k]
    return 1.0 / min(found) if found else 0.0


def ndcg_at_k(ranks: Ranks, k: int = CUTOFF) -> float | None:
    """Binary-relevance nDCG@k: DCG of the gold articles found over that of a ranking with all of them on top."""
    if not ranks:
        return None
    dcg = sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(ranks), k) + 1))
    return dcg / ideal


def citation_precision(cited: Sequence[LawArticle], gold: Sequence[LawArticle]) -> float | None:
    """Share of the distinct cited articles that are gold; None when nothing was cited."""
    distinct = dedupe(cited)
    if not distinct:
        return None
    return sum(1 for c in distinct if any(g.matches(c) for g in gold)) / len(distinct)


def citation_recall(cited: Sequence[LawArticle], gold: Sequence[LawArticle]) -> float | None:
    """Share of the gold articles that were cited; None without gold."""
    if not gold:
        return None
    return sum(1 for g in gold if any(g.matches(c) for c in cited)) / len(gold)


def _normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def found_keywords(text: str, keywords: Sequence[str]) -> list[str]:
    """The keywords the text contains, ignoring case, width and whitespace."""
    haystack = _normalise(text)
    return [k for k in keywords if _normalise(k) in haystack]


def keyword_recall(text: str, keywords: Sequence[str]) -> float | None:
    """Share of the keywords the text contains; None without keywords."""
    if not keywords:
        return None
    return len(found_keywords(text, keywords)) / len(keywords)


@dataclass(frozen=True)
class AbstentionScores:
    """Abstaining treated as predicting "unanswerable"; None where a ratio has nothing to count."""

    precision: float | None  # of the abstentions, the share on unanswerable questions
    recall: float | None  # of the unanswerable questions, the share abstained on
    f1: float | None
    false_abstention_rate: float | None  # of the answerable questions, the share wrongly abstained on


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def abstention_scores(unanswerable: Sequence[bool], abstained: Sequence[bool]) -> AbstentionScores:
    """Abstention precision, recall, F1 and false-abstention rate; the two sequences run over the same questions."""
    if len(unanswerable) != len(abstained):
        raise ValueError("unanswerable and abstained must have the same length")
    pairs = list(zip(unanswerable, abstained))
    true_pos = sum(1 for u, a in pairs if u and a)
    false_pos = sum(1 for u, a in pairs if a and not u)
    false_neg = sum(1 for u, a in pairs if u and not a)
    answerable = sum(1 for u in unanswerable if not u)
    return AbstentionScores(
        precision=_ratio(true_pos, true_pos + false_pos),
        recall=_ratio(true_pos, true_pos + false_neg),
        f1=_ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg),
        false_abstention_rate=_ratio(false_pos, answerable),
    )


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100, linear interpolation); None for no values."""
    return float(np.percentile(values, q)) if len(values) else None
