import re

import pytest

from rag.ingest.chunks import ChunkSettings, chunk_law
from rag.ingest.laws import ParseError, load_laws, parse_law, parse_text
from rag.ingest.numerals import make_label


def test_seed_articles_in_order(seed_path):
    law = parse_law(seed_path)
    assert law.title == "贵州省大数据发展应用促进条例"
    assert [a.label for a in law.articles] == [make_label(n) for n in range(1, 52)]
    assert law.author == "贵州省人民代表大会常务委员会"
    assert law.effective_date == "2026-01-01"
    assert law.url.startswith("https://flk.npc.gov.cn/")
    assert "2016年1月15日" in law.note and "修订" in law.note


def test_seed_article_text_paragraphs_and_items(seed_path):
    law = parse_law(seed_path)
    second = law.article("第二条")
    assert second.path == ("第一章 总则",)
    assert second.paragraphs[0] == "本省行政区域内大数据发展应用促进及其相关活动，应当遵守本条例。"
    assert second.paragraphs[1].startswith("本条例所称大数据")
    definitions = law.article("第五十条")
    assert definitions.path == ("第九章 附则",)
    assert definitions.paragraphs[1].startswith("（一）公共数据")  # the markdown list marker is dropped
    assert law.article("第五十一条").text == "本条例自2026年1月1日起施行。"


def _source_articles(path):
    """An independent count: the bold article labels of the markdown source, plus labels that a
    heading swallowed ('## 第五章　　…第五十三条 …'), or, in a file without bold labels, bare
    lines '第一条…', '第二条…' counted from the first (defects of some source files)."""
    text = path.read_text(encoding="utf-8")
    labels = re.findall(r"(?m)^- \*\*(第[^*]+条(?:之[^*]+)?)\*\*", text)
    merged = re.findall(r"(?m)^#+ 第[^\n]*?[章节编][^\n]*?(第[一二三四五六七八九十百千零]+条) ", text)
    bare = [make_label(n) for n in range(1, 1000)]
    bare_lines = re.findall(r"(?m)^(第[一二三四五六七八九十百千零]+条)", text)
    if not labels and len(bare_lines) >= 3 and bare_lines == bare[: len(bare_lines)]:
        return len(bare_lines)
    return len(labels) + len(merged)


def test_every_library_file_parses_without_losing_or_merging_articles(library_path):
    laws, errors = load_laws([library_path])
    assert errors == []
    assert len(laws) == 1534
    for law in laws:
        from pathlib import Path

        assert len(law.articles) == _source_articles(Path(law.source)), law.source
        assert all(a.text for a in law.articles), law.source
        assert law.articles or law.preamble, law.source
    assert sum(len(law.articles) for law in laws) > 56000


def test_bare_article_lines_are_articles_only_when_they_count_from_the_first():
    front = "---\ntitle: 某解释\n---\n"
    law = parse_text(front + "为正确审理，制定本解释。\n\n第一条甲规定。\n\n续一段。\n\n第二条乙规定。\n\n第三条本解释自公布之日起施行。\n")
    assert [a.label for a in law.articles] == ["第一条", "第二条", "第三条"]
    assert law.article("第一条").paragraphs == ["甲规定。", "续一段。"]
    assert law.preamble == "为正确审理，制定本解释。"
    quoting = parse_text(front + "刑法规定：\n\n第二十二条共同犯罪……\n\n第二十三条组织……\n\n第二十四条次要……\n")
    assert quoting.articles == ()
    assert "第二十二条共同犯罪" in quoting.preamble


def test_library_special_cases(library_path):
    laws, _ = load_laws([library_path])
    by_title = {law.title: law for law in laws}
    criminal = by_title["中华人民共和国刑法"]
    assert criminal.article("第一百七十五条之一") is not None
    civil = by_title["中华人民共和国民法典"]
    assert civil.article("第一千二百六十条") is not None
    assert civil.article("第一条").path[0].startswith("第一编")


def test_plain_text_and_docx_read_like_markdown(tmp_path, seed_path):
    import docx

    law = parse_law(seed_path)
    lines = [law.title, f"（{law.note}）", "目录", "第一章 总则", "第二章 算力基础"]
    current = ()
    for article in law.articles:
        if article.path != current:
            lines.extend(article.path)
            current = article.path
        first, *rest = article.paragraphs
        lines.append(f"{article.label}　{first}")
        lines.extend(rest)
    txt = tmp_path / "条例.txt"
    txt.write_text("\n".join(lines), encoding="utf-8")
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    document.save(tmp_path / "条例.docx")
    for path in (txt, tmp_path / "条例.docx"):
        parsed = parse_law(path)
        assert parsed.title == law.title
        assert [(a.label, a.text, a.path) for a in parsed.articles] == [
            (a.label, a.text, a.path) for a in law.articles
        ]


def test_gbk_file_is_read(tmp_path, seed_path):
    gbk = tmp_path / "gbk.md"
    gbk.write_bytes(seed_path.read_text(encoding="utf-8").encode("gb18030"))
    assert len(parse_law(gbk).articles) == 51


@pytest.mark.parametrize(
    "content, line, reason",
    [
        (b"", 1, "标题"),
        (b"\x00\x01\x02binary", 1, "二进制"),
        ("---\ntitle: [unclosed\n---\n- **第一条**　　内容".encode(), 2, "YAML"),
        ("---\ntitle: x\n".encode(), 1, "---"),
        ("---\ntitle: 某法\n---\n\n".encode(), 5, "没有找到任何条文"),
    ],
)
def test_unreadable_files_name_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(ParseError) as caught:
        parse_law(path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_bad_file_is_reported_and_the_rest_indexed(tmp_path, seed_path):
    (tmp_path / "good.md").write_text(seed_path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "bad.md").write_bytes(b"\x00\x00")
    laws, errors = load_laws([tmp_path])
    assert [law.title for law in laws] == ["贵州省大数据发展应用促进条例"]
    assert len(errors) == 1 and "bad.md" in str(errors[0])


def test_one_chunk_per_article_plus_document_record(seed_path):
    law = parse_law(seed_path)
    chunks = chunk_law(law)
    assert len(chunks) == 52
    assert chunks[0].article == "" and "制定机关：贵州省人民代表大会常务委员会" in chunks[0].text
    # The record writes dates as the law's text does, so that an answer quoting it reads 2026年1月1日
    assert "公布日期：2025年12月3日。施行日期：2026年1月1日。" in chunks[0].text
    assert [c.article for c in chunks[1:]] == [a.label for a in law.articles]
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert all(c.url == law.url and c.status == "有效" and c.effective_date == "2026-01-01" for c in chunks)


def test_long_article_is_split_at_paragraphs_keeping_its_label():
    paragraphs = [f"第{i}段" + "很长的内容" * 30 for i in range(5)]
    text = "---\ntitle: 测试法\nid: t\n---\n\n- **第一条**　　" + "\n\n  ".join(paragraphs) + "\n"
    law = parse_text(text)
    chunks = [c for c in chunk_law(law, ChunkSettings(max_chars=400)) if c.article]
    assert len(chunks) == 3
    assert {c.article for c in chunks} == {"第一条"}
    assert "\n".join(c.text for c in chunks) == law.articles[0].text
    assert all(len(c.text) <= 400 for c in chunks)
