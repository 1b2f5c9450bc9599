"""rag fit-rescore's choice: the best Recall@1 among the settings that re-score at most the allowed share."""

import pytest

from eval.questions import EvalError
from eval.rescore_fit import Outcome, fit, summary

LOOSE, TIGHT, WEAK = (2.0, 0.3), (2.0, 0.08), (0.5, 0.08)


def _outcomes() -> list[Outcome]:
    # four questions; LOOSE re-scores all four and gets every one right, TIGHT two (3 right), WEAK two (2 right)
    rows = [
        {LOOSE: (True, True), TIGHT: (True, True), WEAK: (True, True)},
        {LOOSE: (True, True), TIGHT: (True, True), WEAK: (False, True)},
        {LOOSE: (True, True), TIGHT: (True, False), WEAK: (True, False)},
        {LOOSE: (True, True), TIGHT: (False, False), WEAK: (False, False)},
    ]
    return [Outcome("法", f"问{i}", first=i == 2, rescored=row) for i, row in enumerate(rows)]


def test_the_fit_takes_the_best_recall_within_the_share_and_reports_both():
    outcomes = _outcomes()
    assert summary(outcomes, None) == (0.25, 0.0)
    assert summary(outcomes, LOOSE) == (1.0, 1.0)
    assert fit(outcomes, max_share=0.5) == TIGHT
    assert fit(outcomes, max_share=1.0) == LOOSE


def test_no_setting_within_the_share_is_an_error():
    with pytest.raises(EvalError, match="没有哪个设置"):
        fit(_outcomes(), max_share=0.1)
