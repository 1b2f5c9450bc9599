"""The stance trade-offs as a person reads them (report.md and abstention_tradeoff.png): each group's
leave-law-out rates beside the limits and goals, and the plot's marks where the operating points are."""

from dataclasses import asdict

import numpy as np

from eval.calibrate import Targets, describe_operating_point, plot_tradeoff, tradeoff_figure
from eval.plots import chinese_labels
from rag.answering.abstention import Calibration, StanceModel, SupportModel

COVERED = [{"threshold": t, "answerable": a, "offtopic": o} for t, a, o in [(0.1, 1.0, 0.5), (0.3, 0.99, 0.2), (0.5, 0.9, 0.05)]]
ANSWERS = [{"threshold": t, "answerable": a, "near": n} for t, a, n in [(0.1, 0.99, 0.6), (0.3, 0.92, 0.3), (0.5, 0.8, 0.1)]]


def _calibration(targets: Targets) -> Calibration:
    one_law = {
        "targets": asdict(targets),
        "laws": 12,
        "out_of_fold": {
            "answerable": {"not_covered": 0.01, "answered": 0.92},
            "near": {"not_covered": 0.1, "answered": 0.3},
            "offtopic": {"not_covered": 0.8, "answered": 0.05},
        },
        "covered_curve": COVERED,
        "answers_curve": ANSWERS,
    }
    stance = StanceModel(SupportModel(threshold=0.3), SupportModel(threshold=0.3))
    return Calibration(abstention=SupportModel(threshold=0.2), one_law=stance, report={"one_law": one_law})


def test_the_operating_point_is_described_against_its_limits_and_goals():
    lines = describe_operating_point(_calibration(Targets(near_answered=0.2)))
    assert lines[0] == "一部法规（留出整部法规的交叉验证，12 部法规）：可回答题 无关 0.010、回答 0.920；近题 无关 0.100、回答 0.300；无关题 无关 0.800、回答 0.050"
    assert lines[1] == "目标：可回答题无关 ≤ 0.02、回答 ≥ 0.9；近题回答 ≤ 0.2；无关题无关 ≥ 0.95"


def test_the_plot_marks_the_chosen_points_the_limits_and_the_goals():
    with chinese_labels():
        figure = tradeoff_figure(_calibration(Targets(offtopic_not_covered=0.9, near_answered=0.2)))
    covered, answers = figure.axes
    for axis, vertical, horizontal, point in ((covered, 0.98, 0.1, (0.99, 0.2)), (answers, 0.9, 0.2, (0.92, 0.3))):
        lines = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)) for line in axis.get_lines()]
        assert {round(x[0], 6) for x, _ in lines if len(x) == 2 and x[0] == x[1]} == {vertical}
        assert {round(y[0], 6) for x, y in lines if len(y) == 2 and y[0] == y[1] and x[0] != x[1]} == {horizontal}
        assert {(round(x[0], 6), round(y[0], 6)) for x, y in lines if len(x) == 1} == {point}
        assert "阈值 0.300" in axis.get_title()


def test_the_plot_is_a_png():
    assert plot_tradeoff(_calibration(Targets())).startswith(b"\x89PNG")
