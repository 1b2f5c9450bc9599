"""Every metric on small hand-made cases with known answers."""

import math

import pytest

from eval.metrics import (
    abstention_scores,
    citation_precision,
    citation_recall,
    dedupe,
    found_keywords,
    gold_ranks,
    hit_at_k,
    keyword_recall,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
)
from eval.questions import LawArticle

A = LawArticle("甲法", "第一条", "d1")
B = LawArticle("甲法", "第二条", "d1")
C = LawArticle("甲法", "第三条", "d1")
DOC = LawArticle("甲法", "", "d1")


def test_gold_ranks_count_a_repeated_article_once():
    assert gold_ranks([A, A, B, A, C], [C, B]) == [3, 2]


def test_gold_ranks_follow_list_order_and_miss_as_none():
    assert gold_ranks([C, A], [A, B]) == [2, None]
    assert gold_ranks([], [A]) == [None]


def test_gold_matches_by_title_without_doc_id_and_by_doc_id_with_one():
    same_title_other_law = LawArticle("甲法", "第一条", "d2")
    assert gold_ranks([same_title_other_law], [LawArticle("甲法", "第一条")]) == [1]
    assert gold_ranks([same_title_other_law], [A]) == [None]


def test_document_level_gold_matches_only_the_document_record():
    assert gold_ranks([A, DOC], [LawArticle("甲法", "")]) == [2]
    assert gold_ranks([A, B], [LawArticle("甲法", "")]) == [None]


def test_dedupe_keeps_first_occurrence():
    assert dedupe([B, A, B, DOC, A]) == [B, A, DOC]


def test_recall_and_hit_at_k():
    ranks = [1, None, 4]
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, 3) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, 5) == pytest.approx(2 / 3)
    assert hit_at_k(ranks, 1) == 1.0
    assert hit_at_k([None, 4], 3) == 0.0
    assert hit_at_k([None, 4], 5) == 1.0


def test_k_larger_than_the_index():
    # retrieve() returned only 4 articles although 100 were asked for
    ranks = gold_ranks([A, B, C, DOC], [C, LawArticle("甲法", "第九条", "d1")])
    assert ranks == [3, None]
    assert recall_at_k(ranks, 100) == 0.5
    assert hit_at_k(ranks, 100) == 1.0
    assert ndcg_at_k(ranks, 100) == pytest.approx(0.5 / (1 + 1 / math.log2(3)))


def test_reciprocal_rank_uses_the_first_gold_within_the_cutoff():
    assert reciprocal_rank([None, 3, 2]) == 0.5
    assert reciprocal_rank([11]) == 0.0
    assert reciprocal_rank([11], k=20) == pytest.approx(1 / 11)


def test_ndcg_binary_relevance():
    assert ndcg_at_k([1]) == 1.0
    assert ndcg_at_k([2]) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k([None, 1]) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k([2, 1]) == 1.0  # both on top in either order
    assert ndcg_at_k([1, 2, None], k=2) == 1.0  # the ideal ranking holds only k articles
    assert ndcg_at_k([12]) == 0.0


def test_ties_in_rank_metrics_are_decided_by_position():
    # two gold articles at ranks 1 and 2 score the same whichever is which
    assert recall_at_k([1, 2], 2) == recall_at_k([2, 1], 2) == 1.0
    assert reciprocal_rank([1, 2]) == reciprocal_rank([2, 1]) == 1.0


def test_empty_gold_is_undefined_not_zero():
    assert gold_ranks([A], []) == []
    for value in (recall_at_k([], 5), hit_at_k([], 5), reciprocal_rank([]), ndcg_at_k([]), citation_recall([A], [])):
        assert value is None


def test_citation_precision_and_recall_count_repeats_once():
    assert citation_precision([A, A, B], [A]) == 0.5
    assert citation_recall([A, A, B], [A, C]) == 0.5
    assert citation_precision([], [A]) is None
    assert citation_recall([], [A]) == 0.0
    assert citation_precision([DOC], [LawArticle("甲法", "")]) == 1.0


def test_keyword_recall_ignores_case_width_and_spaces():
    text = "根据《条例》，ＡＢＣ 数据 中心应当在 2026 年施行。"
    assert found_keywords(text, ["abc", "数据中心", "2026年", "缺失"]) == ["abc", "数据中心", "2026年"]
    assert keyword_recall(text, ["abc", "数据中心", "2026年", "缺失"]) == 0.75
    assert keyword_recall(text, []) is None


def test_abstention_scores():
    scores = abstention_scores([False, False, False, True, True], [False, True, False, True, False])
    assert (scores.precision, scores.recall, scores.f1) == (0.5, 0.5, 0.5)
    assert scores.false_abstention_rate == pytest.approx(1 / 3)


def test_abstention_scores_without_abstentions_or_unanswerable_questions():
    never = abstention_scores([True, False], [False, False])
    assert never.precision is None and never.recall == 0.0 and never.f1 == 0.0
    assert never.false_abstention_rate == 0.0
    only_answerable = abstention_scores([False, False], [False, False])
    assert only_answerable.recall is None and only_answerable.f1 is None
    assert abstention_scores([], []).false_abstention_rate is None
    with pytest.raises(ValueError):
        abstention_scores([True], [])


def test_mean_and_percentile():
    assert mean([None, 1.0, 0.0]) == 0.5
    assert mean([None]) is None
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
