"""The speed benchmark's arithmetic: ratios are per-round medians over the reference's, summarised over rounds."""

import pytest

from eval.speed import _ratios


def test_ratios_are_medians_of_per_round_ratios():
    samples = {
        "encode": [[10, 10, 12], [20, 20, 20], [10, 11, 9]],  # round medians 10, 20, 10
        "answer": [[5, 5, 6], [10, 30, 10], [8, 8, 8]],  # round medians 5, 10, 8 → ratios .5, .5, .8
    }
    ratios = _ratios(samples, "encode")
    assert ratios["encode"] == (10, 1.0, 1.0, 1.0)
    assert ratios["answer"] == pytest.approx((8, 0.5, 0.5, 0.8))
