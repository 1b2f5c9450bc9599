"""The abstention trade-off as a person reads it (report.md and abstention_tradeoff.png): each group's rate
beside its limit or goal, and the plot's marks where the targets are."""

import numpy as np

from eval.calibrate import Targets, describe_operating_point, plot_tradeoff, tradeoff_figure
from eval.plots import chinese_labels
from rag.answering.abstention import AbstentionModel, Calibration

CURVE = [
    {"threshold": t, "seed_answerable": fa, "seed_offtopic": off, "seed_unanswerable": near}
    for t, fa, off, near in [(0.1, 0.0, 0.80, 0.40), (0.3, 0.01, 0.96, 0.70), (0.5, 0.10, 0.99, 0.90)]
]


def _calibration(targets: Targets) -> Calibration:
    report = {
        "targets": {**vars(targets)},
        "curve": CURVE,
        "out_of_fold_at_threshold": {"seed_answerable": 0.01, "seed_offtopic": 0.96, "seed_unanswerable": 0.70, "library": None},
    }
    return Calibration(abstention=AbstentionModel(threshold=0.3), report=report)


def test_the_operating_point_is_described_against_its_limits_and_goals():
    report = _calibration(Targets(seed_false_abstention=0.03, near_topic_abstention=0.8)).report
    assert describe_operating_point(report) == "误拒率 条例的可回答题 0.010（上限 0.03）；拒答率 无关问题 0.960（目标 ≥ 0.95）、近题 0.700（目标 ≥ 0.8）"


def test_the_plot_marks_the_chosen_point_the_limits_and_the_goals():
    targets = Targets(seed_false_abstention=0.03, offtopic_abstention=0.9, near_topic_abstention=0.8)
    with chinese_labels():
        figure = tradeoff_figure(_calibration(targets))
    (axis,) = figure.axes
    lines = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)) for line in axis.get_lines()]
    vertical = {round(x[0], 6) for x, _ in lines if len(x) == 2 and x[0] == x[1]}
    horizontal = {round(y[0], 6) for x, y in lines if len(y) == 2 and y[0] == y[1] and x[0] != x[1]}
    points = {(round(x[0], 6), round(y[0], 6)) for x, y in lines if len(x) == 1}
    assert vertical == {0.03}
    assert horizontal == {0.1, 0.2}  # 1 - the goal: the share of unanswerable questions still answered
    assert points == {(0.01, 0.04), (0.01, 0.3)}
    assert "阈值 0.300" in axis.get_title()


def test_the_plot_is_a_png():
    assert plot_tradeoff(_calibration(Targets())).startswith(b"\x89PNG")
