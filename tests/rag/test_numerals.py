import pytest

from rag.ingest.numerals import cn_to_int, int_to_cn, make_label, parse_label


@pytest.mark.parametrize(
    "label, expected",
    [
        ("第一条", (1, 0)),
        ("第十条", (10, 0)),
        ("第十五条", (15, 0)),
        ("第二十条", (20, 0)),
        ("第五十一条", (51, 0)),
        ("第一百条", (100, 0)),
        ("第一百零二条", (102, 0)),
        ("第一百一十条", (110, 0)),
        ("第一百七十五条之一", (175, 1)),
        ("第二百六十二条之二", (262, 2)),
        ("第一千二百六十条", (1260, 0)),
        ("第15条", (15, 0)),
        ("第１５条", (15, 0)),
    ],
)
def test_parse_label(label, expected):
    assert parse_label(label) == expected


@pytest.mark.parametrize("number", list(range(1, 1300)))
def test_labels_round_trip(number):
    assert cn_to_int(int_to_cn(number)) == number
    assert parse_label(make_label(number)) == (number, 0)


def test_statute_style():
    assert int_to_cn(10) == "十"
    assert int_to_cn(110) == "一百一十"
    assert int_to_cn(102) == "一百零二"
    assert int_to_cn(1001) == "一千零一"
    assert make_label(175, 1) == "第一百七十五条之一"


@pytest.mark.parametrize("bad", ["", "第条", "十五条", "第abc条", "第一款"])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError):
        parse_label(bad)
