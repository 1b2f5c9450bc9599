"""eval.grounding: the claims of an answer that its cited articles do not state, and sentence support."""

from __future__ import annotations

import pytest

from eval.grounding import claims, sentence_support, split_sentences, unsupported_claims

PENALTY = "违反本法规定处理个人信息的，由履行个人信息保护职责的部门责令改正；拒不改正的，并处一百万元以下罚款。"
EFFECTIVE = "本条例自2026年1月1日起施行。"
LABOUR = "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。县级以上地方人民政府劳动行政部门负责本行政区域内劳动合同制度实施的监督管理。"


@pytest.mark.parametrize(
    "text, found",
    [
        ("可以处100万元以下罚款[1]。", ["100万"]),
        ("自2026年1月1日起施行[2]。", ["2026", "1", "1"]),
        ("应在三十日内答复，比例为百分之十。", ["三十", "百分之十"]),
        ("依照《中华人民共和国个人信息保护法》第六十六条第二款处理[1]。", []),  # titles, ordinals, markers
        ("由县级以上人民政府负责，有关部门配合。", ["人民政府"]),
        ("由公安机关处理。", ["公安机关"]),
        ("县里的部门和各个部门都要配合。", []),  # descriptions, not names
    ],
)
def test_claims(text, found):
    assert [c.text for c in claims(text)] == found


@pytest.mark.parametrize(
    "answer, cited, missing",
    [
        ("拒不改正的，并处100万元以下罚款[1]。", [PENALTY], []),  # Arabic against Chinese numerals
        ("拒不改正的，并处五十万元以下罚款[1]。", [PENALTY], ["五十万"]),
        ("条例自2026年1月1日起施行[1]。", [EFFECTIVE], []),
        ("条例自2025年1月1日起施行[1]。", [EFFECTIVE], ["2025"]),
        ("应当每月支付2倍工资[1]。", [LABOUR], []),
        ("应当每月支付三倍工资[1]。", [LABOUR], ["三"]),
        ("由劳动行政部门监督[1]。", [LABOUR], []),
        ("由公安部门监督[1]。", [LABOUR], ["公安部门"]),
        ("有关部门责令改正[1]。", [PENALTY], []),  # "有关部门" names no particular body
        ("需要自己证明公司有过错[1]。", [PENALTY], []),  # a reversal has no number or body: only reading finds it
        ("罚款一百万元[1]。", [], ["一百万"]),
    ],
)
def test_unsupported_claims(answer, cited, missing):
    assert [c.text for c in unsupported_claims(answer, cited)] == missing


def test_labels_without_di_and_the_askers_own_facts_are_not_claims():
    assert [c.text for c in claims("87条说的是赔偿金[1]。")] == []
    answer = "我在这家公司干了三年零八个月，所以经济补偿应该按三年算[1]。"
    article = "经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付。"
    assert [c.text for c in unsupported_claims(answer, [article])] == ["三", "零八", "三"]
    assert unsupported_claims(answer, [article], question="我在公司干了三年零八个月，经济补偿按几个月算？") == []


def test_a_marker_after_the_full_stop_stays_with_its_sentence():
    assert split_sentences("需要自己证明。[1]另外一句[2]。") == ["需要自己证明。[1]", "另外一句[2]。"]


def test_sentence_support_by_wording():
    pairs = sentence_support(
        "拒不改正的，并处一百万元以下罚款。[1]公司应当赔偿用户的精神损失[1][2]。没有标注的一句。",
        {1: PENALTY},
    )
    assert pairs == [
        ("拒不改正的，并处一百万元以下罚款。[1]", 1, True),
        ("公司应当赔偿用户的精神损失[1][2]。", 1, False),
        ("公司应当赔偿用户的精神损失[1][2]。", 2, False),  # [2] was not cited
    ]
