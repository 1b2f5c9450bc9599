"""The law parser never crashes: any text, any bytes in a file, any encoding give a Law or a
ParseError naming the file and the line; pathological 100k-character inputs stay fast."""

from __future__ import annotations

import dataclasses
import json
import random
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.ingest.chunks import chunk_law
from rag.ingest.laws import ParseError, parse_law, parse_text
from rag.ingest.names import LawNames
from rag.ingest.numerals import int_to_cn, make_label, parse_label
from rag.records import Law

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST_SECONDS = 3.0  # what a 100k-character input may take (the pathological ones took 30 s to minutes)
N = 100_000

# Pieces of law files, malformed ones included, to splice with arbitrary text
PIECES = [
    "---\n", "title: 某某条例\n", "title: [a, b]\n", "title: &x [*x]\n", "id: {a: 1}\n", "urls:\n  - https://x\n",
    "## ", "# ", "#", "- **第一条**　　", "- **第二条** ", "- **第一百零二条之一**", "- **第１５条**", "- **第十万条** ",
    "第三条　", "第3条 ", "第一章　总则\n", "第二节 一般规定\n", "## 第五章　　信息公开第五十三条 公民", "目　录\n", "目录\n",
    "（2020年1月1日通过）\n", "> 题注\n", "**标题**\n", "| a | b |\n", "|---|\n", "![图](x.png)\n", "  续行\n", "\u3000续行\n",
    "\n", "\r\n", "\r", "\x00", "\x01", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u200b", "\ufeff", "\ud800", "\udfff",
    "ｔｉｔｌｅ：", "：", "１２３", "ＡＢＣ", "！？", "\t", "…", "😀", "𠀀", "\U0010ffff", "'", "\"", "{", "[", "&a ", "*a ", "!!binary ",
]
law_like = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=60).map("".join)
any_text = st.one_of(law_like, st.text(alphabet=st.characters(exclude_categories=()), max_size=200))


def _line_count(text: str) -> int:
    return text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1


def _check_law(law: Law, text: str) -> None:
    """What the index needs from a parsed law: a usable title, valid labels, lines that exist,
    and records that serialise to UTF-8 JSON as build_index writes them."""
    assert law.title.strip() and len(law.title) <= 1000
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for article in law.articles:
        assert parse_label(article.label) == (article.number, article.sub)
        assert 1 <= article.line <= len(lines) and "条" in lines[article.line - 1]
    for chunk in chunk_law(law):
        json.dumps(dataclasses.asdict(chunk), ensure_ascii=False).encode("utf-8")
    json.dumps(dataclasses.asdict(law), ensure_ascii=False).encode("utf-8")


def _check_error(error: ParseError, source: str, lines: int) -> None:
    assert error.path == source
    assert 1 <= error.line <= max(lines, 1)
    assert error.reason and str(error).startswith(f"{source}:{error.line}: ")


@SETTINGS
@given(text=any_text, markdown=st.booleans())
def test_parse_text_gives_a_law_or_a_parse_error(text: str, markdown: bool):
    source = "某法.md" if markdown else "某法.txt"
    try:
        law = parse_text(text, source=source, markdown=markdown)
    except ParseError as error:
        _check_error(error, source, _line_count(text))
    else:
        _check_law(law, text)


def _article_md(number: int, text: str, width: str) -> str:
    label = {"cn": int_to_cn(number), "ascii": str(number), "full": str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))}[width]
    return f"- **第{label}条**　　{text}"


@SETTINGS
@given(
    numbers=st.lists(st.integers(1, 9999), min_size=1, max_size=25),
    widths=st.lists(st.sampled_from(["cn", "ascii", "full"]), min_size=25, max_size=25),
    noise=st.sampled_from(["", "\x01", "\u200b", "\u3000", "！", "ｘ"]),
)
def test_articles_out_of_order_or_duplicated_are_kept_in_file_order(numbers: list[int], widths: list[str], noise: str):
    body = "\n".join(_article_md(n, f"内容{noise}{i}。", widths[i]) for i, n in enumerate(numbers))
    law = parse_text(f"---\ntitle: 测试条例\n---\n{body}\n", source="t.md")
    assert [a.number for a in law.articles] == numbers
    assert [a.label for a in law.articles] == [make_label(n) for n in numbers]
    assert all(f"内容{noise.replace(chr(1), '')}{i}。".replace("\u3000", " ").strip() in a.text for i, a in enumerate(law.articles))
    chunks = chunk_law(law)
    assert len({c.chunk_id for c in chunks}) == len(chunks)  # duplicate labels still get distinct ids


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=st.one_of(st.binary(max_size=600), law_like.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from([".md", ".txt", ".docx", ".MD"]))
def test_any_bytes_in_a_file_give_a_law_or_a_parse_error(content: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"law{suffix}"
        path.write_bytes(content)
        try:
            law = parse_law(path)
        except ParseError as error:
            _check_error(error, str(path), content.count(b"\n") + content.count(b"\r") + 1)
        else:
            assert law.source == str(path)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_law_files_in_common_encodings_are_read(tmp_path, seed_path, encoding):
    text = seed_path.read_text(encoding="utf-8")
    if encoding.endswith("-bom"):
        codec = encoding.removesuffix("-bom")
        data = ("\ufeff" + text).encode(codec)
    else:
        data = text.encode(encoding)
    path = tmp_path / "law.md"
    path.write_bytes(data)
    law = parse_law(path)
    reference = parse_law(seed_path)
    assert law.title == reference.title
    assert [(a.label, a.text) for a in law.articles] == [(a.label, a.text) for a in reference.articles]


def test_a_damaged_utf8_file_is_refused_at_the_damaged_line(tmp_path, seed_path):
    raw = seed_path.read_bytes()
    at = raw.index("第十条".encode("utf-8")) + 1  # the second byte of 第: the character is cut in half
    path = tmp_path / "law.md"
    path.write_bytes(raw[:at] + raw[at + 1 :])
    with pytest.raises(ParseError) as caught:
        parse_law(path)
    assert caught.value.line == raw[:at].count(b"\n") + 1
    assert "UTF-8" in caught.value.reason and "损坏" in caught.value.reason


@pytest.mark.parametrize("name", ["folder.md", "missing.md"])
def test_a_path_that_cannot_be_read_is_a_parse_error(tmp_path, name):
    path = tmp_path / name
    if name == "folder.md":
        path.mkdir()
    with pytest.raises(ParseError) as caught:
        parse_law(path)
    assert caught.value.path == str(path) and "无法读取" in caught.value.reason


def _alias_bomb(levels: int = 8) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "---\n" + "\n".join(lines) + f"\ntitle: [*a{levels}]\n---\n- **第一条** 内容。\n"


def _random_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    alphabet = "第一二三四五六七八九十百千条章节编之款项　 \t（）()：:；;。，！？**-#>|\x01\x1b\x7f\u200b\ufeff０１２３ＡＢａｂ法规数据通过公布"
    return "".join(rng.choice(alphabet) if rng.random() < 0.97 else "\n" for _ in range(size))


PATHOLOGICAL = {
    # .txt 题注 check: ^[（(].*(通过|…).*[）)]$ backtracked quadratically (30 s)
    "note line of 100k characters": ("标题\n（" + "通过" * (N // 2) + "x", False),
    # a YAML alias bomb: 9^8 strings behind one title, turned into text by str() (minutes, GBs)
    "YAML alias bomb": (_alias_bomb(), True),
    # deep YAML nesting: RecursionError escaped the parser
    "YAML nested 5000 deep": ("---\ntitle: " + "[" * 5000 + "]" * 5000 + "\n---\n- **第一条** 内容。\n", True),
    # a first line of 100k characters became the title; indexing it (LawNames) is quadratic in its length
    "title line of 100k characters": ("（" * N + "\n第一条 内容。\n", False),
    "article of 100k characters": ("---\ntitle: x\n---\n- **第一条** " + "字" * N, True),
    "10k article lines (100k characters)": ("---\ntitle: x\n---\n" + "- **第一条** 字\n" * (N // 10), True),
    "heading run of 100k numerals": ("---\ntitle: x\n---\n## 第一章 " + "第" + "一" * N + "x", True),
    "article number of 100k numerals": ("---\ntitle: x\n---\n- **第" + "一" * N + "条** x", True),
    "table row of 100k bars": ("---\ntitle: x\n---\n" + "|" * N + "x", True),
    "random markdown 100k": (_random_text(N, 1), True),
    "random plain text 100k": ("标题\n" + _random_text(N, 2), False),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_100k_inputs_are_fast_and_never_crash(name):
    text, markdown = PATHOLOGICAL[name]
    started = time.perf_counter()
    try:
        law = parse_text(text, source="big.md", markdown=markdown)
        LawNames([(law.doc_id, law.title)])  # what open_index does with every title
    except ParseError as error:
        _check_error(error, "big.md", _line_count(text))
        assert len(error.reason) < 200, "the message quotes at most a short piece of the input"
    elapsed = time.perf_counter() - started
    assert elapsed < FAST_SECONDS, f"{name}: {elapsed:.1f} s"
